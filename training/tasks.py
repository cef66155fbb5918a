"""Celery tasks of the training app: thin wrappers over services.

The soft and hard time limits come from the settings (CELERY_TASK_SOFT_TIME_LIMIT,
CELERY_TASK_TIME_LIMIT) through the app's configuration, so they are not repeated here: the
decorator runs at import time, when settings must not be read.
"""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model

from mindpulse.errors import DATABASE_RETRY

from .models import RetrainRun
from .retrain import model_retrain
from .task_names import RETRAIN


@shared_task(
    name=RETRAIN,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    **DATABASE_RETRY,  # a database outage: retried with backoff (mindpulse.errors)
)
def retrain(self, trigger: str = "scheduled", requested_by_id=None, run_id=None) -> dict:
    """Evaluate the retrain triggers and retrain when one fires (see training.retrain).

    trigger "manual" forces a retrain. A run_id names a queued staff request; a second delivery
    of the same message finds it handled and does nothing.
    """
    user = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
    try:
        run = model_retrain(
            trigger=trigger,
            requested_by=user,
            force=trigger == RetrainRun.Trigger.MANUAL,
            task_id=self.request.id or "",
            run_id=run_id,
        )
    except RetrainRun.DoesNotExist:
        # Queued from inside a transaction that has not committed yet: look again shortly.
        raise self.retry(countdown=2, max_retries=5) from None
    return {"run_id": run.pk, "decision": run.decision}
