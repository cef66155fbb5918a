"""Writes of production data: predictions, feedback, and the retrain claim on feedback."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction

from training import serving
from training.features import FEATURE_NAMES
from training.selectors import FIELD_OF

from . import bulk, ranges, selectors
from .models import Feedback, Prediction


def feedback_claim(run) -> int:
    """Claim every labelled row no retrain has used yet, for `run`, in one statement.

    Feedback that arrives while the run trains is not claimed: it waits for the next run.
    """
    return Feedback.objects.filter(consumed_by__isnull=True).update(consumed_by=run)


def feedback_release(run) -> int:
    """Give a failed run's claimed rows back, so that the next run uses them."""
    return Feedback.objects.filter(consumed_by=run).update(consumed_by=None)


# --- Predictions -------------------------------------------------------------------------------


class ModelUnavailable(Exception):
    """No model version is active: nothing can be predicted yet."""


def active_model():
    """The loaded model in service (training.serving), or ModelUnavailable."""
    loaded = serving.get_active_model()
    if loaded is None:
        raise ModelUnavailable("No model is in service yet: train and activate one first.")
    return loaded


def _row(features: Mapping[str, Any], probability: float, loaded, **fields) -> Prediction:
    return Prediction(
        **{FIELD_OF[name]: features[name] for name in FEATURE_NAMES},
        probability=probability,
        label=probability >= loaded.threshold,
        threshold=loaded.threshold,
        model_version_id=loaded.version_id,
        **fields,
    )


def prediction_create(
    features: Mapping[str, Any], *, channel: str, started: float | None = None
) -> Prediction:
    """Answer one validated row with the active model and store it: one model call, one INSERT.

    `started` (time.perf_counter() when the request arrived) makes latency_ms cover the
    validation too; the INSERT itself is not part of it.
    """
    started = time.perf_counter() if started is None else started
    loaded = active_model()
    probability = float(loaded.predictor.predict_proba_one(features))
    warnings = ranges.ranges_for(loaded).warnings(features)
    latency_ms = (time.perf_counter() - started) * 1000
    prediction = _row(
        features, probability, loaded, channel=channel, warnings=warnings, latency_ms=latency_ms
    )
    bulk.insert_prediction(prediction)
    return prediction


def prediction_create_many(
    rows: Sequence[Mapping[str, Any]], *, channel: str = Prediction.Channel.BATCH, loaded=None
) -> list[Prediction]:
    """Answer validated rows with ONE vectorised model call and store them in one transaction.

    latency_ms of each row is the batch's time divided by its rows.
    """
    started = time.perf_counter()
    loaded = loaded or active_model()
    if not rows:
        return []
    frame = pd.DataFrame.from_records(list(rows), columns=list(FEATURE_NAMES))
    probabilities = loaded.predictor.predict_proba(frame)
    known = ranges.ranges_for(loaded)
    latency_ms = (time.perf_counter() - started) * 1000 / len(rows)
    predictions = [
        _row(
            features,
            float(probability),
            loaded,
            channel=channel,
            warnings=known.warnings(features),
            latency_ms=latency_ms,
        )
        for features, probability in zip(rows, probabilities, strict=True)
    ]
    with transaction.atomic():
        bulk.insert_predictions(predictions)
    return predictions


# --- Feedback ----------------------------------------------------------------------------------


class FeedbackExists(Exception):
    """The prediction already has its feedback (one per prediction, enforced by the database)."""


@dataclass
class FeedbackOutcome:
    feedback: Feedback
    total_feedbacks: int
    retrain_triggered: bool = False


def feedback_create(*, prediction_id, actual: bool) -> FeedbackOutcome:
    """Record the actual outcome of a stored prediction.

    Raises Prediction.DoesNotExist for an unknown id and FeedbackExists for a second feedback:
    the INSERT itself decides (unique constraint), so two concurrent requests cannot both win.
    """
    with transaction.atomic():
        prediction = Prediction.objects.get(pk=prediction_id)
        return _feedback_insert(prediction, actual)


def feedback_create_with_features(features: Mapping[str, Any], *, actual: bool) -> FeedbackOutcome:
    """The original API's shape: store a prediction for these features (channel api), then
    its feedback, in one transaction."""
    started = time.perf_counter()
    with transaction.atomic():
        prediction = prediction_create(features, channel=Prediction.Channel.API, started=started)
        return _feedback_insert(prediction, actual)


def _feedback_insert(prediction: Prediction, actual: bool) -> FeedbackOutcome:
    # No savepoint around the INSERT (two round trips fewer): both callers run it inside
    # their own atomic block, and a duplicate leaves that block at once with FeedbackExists,
    # which rolls the whole block back; nothing runs in the failed transaction.
    try:
        feedback = Feedback.objects.create(prediction=prediction, actual=bool(actual))
    except IntegrityError:
        raise FeedbackExists(f"Prediction {prediction.pk} already has its feedback.") from None
    total, pending = selectors.feedback_counts()
    outcome = FeedbackOutcome(feedback=feedback, total_feedbacks=total)
    if pending - 1 < settings.RETRAIN_THRESHOLD <= pending:
        # This feedback crossed the threshold: one retrain per crossing, not one per feedback
        # above it. After the commit, so that the retrain sees this row; the flag is set only
        # when a queued run was recorded and its message really left.
        transaction.on_commit(lambda: _trigger_retrain(outcome))
    return outcome


def _trigger_retrain(outcome: FeedbackOutcome) -> None:
    from training.retrain import retrain_request_on_feedback

    outcome.retrain_triggered = retrain_request_on_feedback() is not None
