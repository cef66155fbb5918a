"""The alert hooks no caller invokes: Celery's failure signals.

Connected once from mindpulse.apps (ready()), in every process: the signals only fire where
tasks run (the worker, or eagerly in tests). The alert check's periodic task is an entry of
CELERY_BEAT_SCHEDULE (mindpulse.beat).
"""

from __future__ import annotations


def connect() -> None:
    from celery import signals

    from . import alerts

    signals.task_failure.connect(alerts.on_task_failure, dispatch_uid="monitoring.alerts.failure")
    signals.task_revoked.connect(alerts.on_task_revoked, dispatch_uid="monitoring.alerts.revoked")
    signals.task_internal_error.connect(
        alerts.on_task_internal_error, dispatch_uid="monitoring.alerts.internal_error"
    )
