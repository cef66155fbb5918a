"""The daily retrain's entry in django-celery-beat, created once and then left to the admin."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction

logger = logging.getLogger(__name__)

PERIODIC_TASK_NAME = "training: retrain"
TASK_NAME = "training.tasks.retrain"


def periodic_task_ensure(
    *,
    name: str,
    task: str,
    crontab: dict[str, str],
    kwargs: dict[str, Any],
    description: str,
    using: str = "default",
) -> bool:
    """Create the periodic task `name` on `crontab` when it is missing.

    Only when missing: staff may change the crontab, disable or rename the entry in the admin,
    and a later `migrate` must not undo that. Returns True when the entry was created.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return False  # django_celery_beat is not migrated (yet) in this database
    tasks = PeriodicTask.objects.using(using)
    if tasks.filter(name=name).exists():
        return False
    fields = {**crontab, "timezone": settings.TIME_ZONE}
    crontabs = CrontabSchedule.objects.using(using)
    try:
        with transaction.atomic(using=using):
            schedule = crontabs.filter(**fields).first() or crontabs.create(**fields)
            tasks.create(
                name=name,
                task=task,
                crontab=schedule,
                kwargs=json.dumps(kwargs),
                description=description,
            )
    except IntegrityError:  # a concurrent `migrate` created it first
        return False
    return True


def retrain_schedule_ensure(*, using: str = "default") -> bool:
    """Create the "training: retrain" periodic task from RETRAIN_SCHEDULE when it is missing."""
    created = periodic_task_ensure(
        name=PERIODIC_TASK_NAME,
        task=TASK_NAME,
        crontab=settings.RETRAIN_SCHEDULE,
        kwargs={"trigger": "scheduled"},
        description="Evaluate the retrain triggers and retrain when one fires "
        "(created from RETRAIN_SCHEDULE; edits made here are kept).",
        using=using,
    )
    if created:
        logger.info("retrain_schedule_created crontab=%s", settings.RETRAIN_SCHEDULE)
    return created
