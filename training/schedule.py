"""The daily retrain's entry in django-celery-beat, created once and then left to the admin."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import IntegrityError, connections, transaction

logger = logging.getLogger(__name__)

PERIODIC_TASK_NAME = "training: retrain"
TASK_NAME = "training.tasks.retrain"


def retrain_schedule_ensure(*, using: str = "default") -> bool:
    """Create the "training: retrain" periodic task from RETRAIN_SCHEDULE when it is missing.

    Only when missing: staff may change the crontab, disable or rename the entry in the admin,
    and a later `migrate` must not undo that. Returns True when the entry was created.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return False  # django_celery_beat is not migrated (yet) in this database
    tasks = PeriodicTask.objects.using(using)
    if tasks.filter(name=PERIODIC_TASK_NAME).exists():
        return False
    fields = {**settings.RETRAIN_SCHEDULE, "timezone": settings.TIME_ZONE}
    crontabs = CrontabSchedule.objects.using(using)
    try:
        with transaction.atomic(using=using):
            crontab = crontabs.filter(**fields).first() or crontabs.create(**fields)
            tasks.create(
                name=PERIODIC_TASK_NAME,
                task=TASK_NAME,
                crontab=crontab,
                kwargs=json.dumps({"trigger": "scheduled"}),
                description="Evaluate the retrain triggers and retrain when one fires "
                "(created from RETRAIN_SCHEDULE; edits made here are kept).",
            )
    except IntegrityError:  # a concurrent `migrate` created it first
        return False
    logger.info("retrain_schedule_created crontab=%s", settings.RETRAIN_SCHEDULE)
    return True
