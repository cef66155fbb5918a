"""A student's withdrawal: their prediction and its feedback deleted, an erasure recorded.

The prediction's id is the capability (only the student's result link and the API caller
know it). What was written from the row before (a retrain archive, a report file) is purged
by the next retention run (privacy.retention), which reads the Erasure rows; a model already
trained on it cannot unlearn it, but no later training run sees it: the rows are gone.
"""

from __future__ import annotations

import logging

from django.db import transaction

from privacy.models import Erasure

from .models import Feedback, Prediction

logger = logging.getLogger(__name__)


def prediction_erase(prediction_id) -> Erasure:
    """Delete the prediction and its feedback and record the erasure, in one transaction.

    Raises Prediction.DoesNotExist for an id that is unknown or already erased.
    """
    with transaction.atomic():
        prediction = Prediction.objects.select_for_update().get(pk=prediction_id)
        Feedback.objects.filter(prediction=prediction).delete()
        erasure = Erasure.objects.create(
            prediction_id=prediction.pk, predicted_at=prediction.created_at
        )
        prediction.delete()
    logger.info("prediction_erased erasure=%s", erasure.pk)
    return erasure
