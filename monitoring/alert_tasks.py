"""Celery tasks of the alerts: thin wrappers over monitoring.delivery and monitoring.alerts.

Imported by monitoring/tasks.py, so that Celery's autodiscovery registers them.
"""

from __future__ import annotations

from celery import shared_task

from . import alerts, delivery, task_names

# 5 s, 10 s, 20 s, 40 s, 80 s (each with full jitter): about 2.5 minutes of retries before a
# channel is marked failed; the hourly check then starts the sequence again (see delivery).
MAX_RETRIES = 5
BACKOFF_SECONDS = 5
BACKOFF_MAX_SECONDS = 300


@shared_task(
    bind=True,
    name=task_names.DELIVER_ALERT,
    acks_late=True,
    autoretry_for=(delivery.DeliveryError,),
    retry_backoff=BACKOFF_SECONDS,
    retry_backoff_max=BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def deliver_alert(self, alert_id: int, channel: str) -> str:
    """Send one alert to one channel; a failure is recorded on the alert and retried."""
    return delivery.deliver(alert_id, channel, final=self.request.retries >= self.max_retries)


@shared_task(name=task_names.CHECK_ALERTS, acks_late=True)
def check_alerts() -> dict:
    """Hourly (django-celery-beat): stale reports, and deliveries to try again."""
    return alerts.check()
