from celery import shared_task


@shared_task(name="privacy.tasks.retention")
def retention():
    """The daily beat task: a thin wrapper over privacy.retention.retention_run."""
    from .retention import retention_run

    return retention_run().pk
