"""The daily retention task's entry in django-celery-beat, created once, then left to staff."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import IntegrityError, connections, transaction

logger = logging.getLogger(__name__)

PERIODIC_TASK_NAME = "privacy: retention"
TASK_NAME = "privacy.tasks.retention"


def retention_schedule_ensure(*, using: str = "default") -> bool:
    """Create the "privacy: retention" periodic task from RETENTION_SCHEDULE when missing.

    Like the retrain's entry: an edit made in the admin survives later `migrate` runs.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return False
    tasks = PeriodicTask.objects.using(using)
    if tasks.filter(name=PERIODIC_TASK_NAME).exists():
        return False
    fields = {**settings.RETENTION_SCHEDULE, "timezone": settings.TIME_ZONE}
    crontabs = CrontabSchedule.objects.using(using)
    try:
        with transaction.atomic(using=using):
            crontab = crontabs.filter(**fields).first() or crontabs.create(**fields)
            tasks.create(
                name=PERIODIC_TASK_NAME,
                task=TASK_NAME,
                crontab=crontab,
                kwargs=json.dumps({}),
                description="Delete the answers, archives and exports past their retention "
                "days and purge erased predictions from the archives (created from "
                "RETENTION_SCHEDULE; edits made here are kept).",
            )
    except IntegrityError:
        return False
    logger.info("retention_schedule_created crontab=%s", settings.RETENTION_SCHEDULE)
    return True
