from celery import shared_task

from .task_names import RETENTION


@shared_task(name=RETENTION)
def retention():
    """The daily beat task: a thin wrapper over privacy.retention.retention_run."""
    from .retention import retention_run

    return retention_run().pk
