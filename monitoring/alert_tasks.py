"""Celery tasks of the alerts: thin wrappers over monitoring.alerts and monitoring.delivery.

Imported by monitoring/tasks.py, so that Celery's autodiscovery registers them. The delivery
task itself is defined in monitoring/delivery.py, which queues it (re-exported here).
"""

from __future__ import annotations

from celery import shared_task

from . import alerts, task_names
from .delivery import (  # noqa: F401 (the delivery task and its retry policy, re-exported)
    BACKOFF_MAX_SECONDS,
    BACKOFF_SECONDS,
    MAX_RETRIES,
    deliver_alert,
)


@shared_task(name=task_names.CHECK_ALERTS, acks_late=True)
def check_alerts() -> dict:
    """Hourly (django-celery-beat): stale reports, and deliveries to try again."""
    return alerts.check()
