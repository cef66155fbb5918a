"""Celery tasks of the monitoring app: thin wrappers over services.

The time limits are the app-wide CELERY_TASK_SOFT_TIME_LIMIT / CELERY_TASK_TIME_LIMIT (read
by `mindpulse/celery.py` from the settings), not repeated here: a decorator argument would
read the settings at import time.
"""

from celery import shared_task

from mindpulse.errors import DATABASE_RETRY

from . import services, task_names


def reports_enqueue(*, trigger: str):
    """Queue a run on the worker (reports never run in a web request); returns the AsyncResult.

    Raises what the broker client raises when it cannot be reached.
    """
    return run_reports.apply_async(kwargs={"trigger": trigger})


@shared_task(
    bind=True,
    name=task_names.RUN_REPORTS,
    acks_late=True,
    **DATABASE_RETRY,  # a database outage: retried with backoff (mindpulse.errors)
)
def run_reports(self, trigger: str = "scheduled") -> dict:
    """Every 6 hours (django-celery-beat), or queued by staff from the admin."""
    run = services.reports_run(trigger=trigger, task_id=self.request.id or "")
    return {
        "run": run.pk,
        "status": run.status,
        "reason": run.reason,
        "reports": {r.kind: r.status for r in run.reports.all()},
    }


from .alert_tasks import check_alerts, deliver_alert  # noqa: E402,F401 (registers them)
