"""The daily retention task's entry in django-celery-beat, created once, then left to staff."""

from __future__ import annotations

import logging

from django.conf import settings

from training.schedule import periodic_task_ensure

logger = logging.getLogger(__name__)

PERIODIC_TASK_NAME = "privacy: retention"
TASK_NAME = "privacy.tasks.retention"


def retention_schedule_ensure(*, using: str = "default") -> bool:
    """Create the "privacy: retention" periodic task from RETENTION_SCHEDULE when missing.

    Like the retrain's entry: an edit made in the admin survives later `migrate` runs.
    """
    created = periodic_task_ensure(
        name=PERIODIC_TASK_NAME,
        task=TASK_NAME,
        crontab=settings.RETENTION_SCHEDULE,
        kwargs={},
        description="Delete the answers, archives and exports past their retention "
        "days and purge erased predictions from the archives (created from "
        "RETENTION_SCHEDULE; edits made here are kept).",
        using=using,
    )
    if created:
        logger.info("retention_schedule_created crontab=%s", settings.RETENTION_SCHEDULE)
    return created
