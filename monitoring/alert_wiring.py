"""The alert hooks no caller invokes: Celery's failure signals and the alert check's schedule.

Connected once from mindpulse.apps (ready()), in every process: the signals only fire where
tasks run (the worker, or eagerly in tests).
"""

from __future__ import annotations

import json
import logging

logger = logging.getLogger(__name__)

CHECK_SCHEDULE_NAME = "monitoring: check alerts"
CHECK_TASK = "monitoring.check_alerts"


def connect() -> None:
    from celery import signals
    from django.apps import apps
    from django.db.models.signals import post_migrate

    from . import alerts

    signals.task_failure.connect(alerts.on_task_failure, dispatch_uid="monitoring.alerts.failure")
    signals.task_revoked.connect(alerts.on_task_revoked, dispatch_uid="monitoring.alerts.revoked")
    signals.task_internal_error.connect(
        alerts.on_task_internal_error, dispatch_uid="monitoring.alerts.internal_error"
    )
    post_migrate.connect(
        _ensure_check_schedule,
        sender=apps.get_app_config("monitoring"),
        dispatch_uid="monitoring.alerts.check_schedule",
    )


def _ensure_check_schedule(sender, using="default", **kwargs) -> None:
    from django.db import connections

    if "django_celery_beat_periodictask" not in connections[using].introspection.table_names():
        return  # a partial migrate, before django-celery-beat's tables exist
    check_schedule_ensure(using=using)


def check_schedule_ensure(*, using: str = "default"):
    """Create the alert check's periodic task when missing; an existing one is left as edited.

    The check runs even when the reports never do, which is the point: it is what notices
    that no report has succeeded for too long.
    """
    from django.conf import settings
    from django.db import IntegrityError, transaction
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    tasks = PeriodicTask.objects.using(using)
    existing = tasks.filter(name=CHECK_SCHEDULE_NAME).first()
    if existing is not None:
        return existing
    fields = {**settings.ALERT_CHECK_SCHEDULE, "timezone": settings.CELERY_TIMEZONE}
    crontabs = CrontabSchedule.objects.using(using)
    try:
        with transaction.atomic(using=using):
            crontab = crontabs.filter(**fields).first() or crontabs.create(**fields)
            task = tasks.create(
                name=CHECK_SCHEDULE_NAME,
                task=CHECK_TASK,
                crontab=crontab,
                kwargs=json.dumps({}),
                description="Alert when no monitoring report succeeded for twice its schedule; "
                "retry alert deliveries that failed (created from ALERT_CHECK_SCHEDULE).",
            )
    except IntegrityError:  # a concurrent migrate created it first
        return tasks.filter(name=CHECK_SCHEDULE_NAME).first()
    logger.info("alert_check_schedule_created", extra={"crontab": str(crontab)})
    return task
