"""Writes of production data: predictions, feedback, and the retrain claim on feedback."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction

from training import serving
from training.features import FEATURE_NAMES, FIELD_OF
from training.selectors import reference_count

from . import bulk, events, ranges, selectors
from .models import Feedback, Prediction
from .validation import implausible_day_warning

# Rows claimed per UPDATE (SQLite allows a few thousand parameters per statement).
CLAIM_CHUNK = 900


def feedback_claim(run, ids: Iterable[int] | None = None) -> int:
    """Claim the labelled rows `ids` (the retrain passes selectors.usable_labels(...).ids()) for
    `run`; None claims every unconsumed row.

    Only rows no retrain has used yet are claimed; feedback that arrives while the run trains
    is not claimed: it waits for the next run.
    """
    if ids is None:
        return Feedback.objects.filter(consumed_by__isnull=True).update(consumed_by=run)
    claimed, chunk = 0, []
    for pk in ids:
        chunk.append(pk)
        if len(chunk) == CLAIM_CHUNK:
            claimed += _claim(run, chunk)
            chunk = []
    if chunk:
        claimed += _claim(run, chunk)
    return claimed


def _claim(run, ids: list[int]) -> int:
    return Feedback.objects.filter(pk__in=ids, consumed_by__isnull=True).update(consumed_by=run)


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


def _warnings(known: ranges.TrainingRanges, features: Mapping[str, Any]) -> list[dict]:
    found = known.warnings(features)
    long_day = implausible_day_warning(features)
    return found if long_day is None else [*found, long_day]


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
    features: Mapping[str, Any],
    *,
    channel: str,
    started: float | None = None,
    consent: bool | None = None,
) -> Prediction:
    """Answer one validated row with the active model and store it: one model call, one INSERT.

    `started` (time.perf_counter() when the request arrived) makes latency_ms cover the
    validation too; the INSERT itself is not part of it. `consent` True or None (not asked:
    the API's default and the original client) stores the answers; False stores what
    NO_CONSENT_STORAGE says: a minimal row (the estimate, no answer) or nothing. The returned
    prediction always holds the answers, for the page that shows the estimate.
    """
    started = time.perf_counter() if started is None else started
    loaded = active_model()
    probability = float(loaded.predictor.predict_proba_one(features))
    warnings = _warnings(ranges.ranges_for(loaded), features)
    latency_ms = (time.perf_counter() - started) * 1000
    prediction = _row(
        features, probability, loaded, channel=channel, warnings=warnings, latency_ms=latency_ms
    )
    if consent is None:
        bulk.insert_prediction(prediction)
        return prediction
    prediction.consent, prediction.consent_version = consent, settings.CONSENT_VERSION
    if consent:
        bulk.insert_prediction(prediction)
    elif settings.NO_CONSENT_STORAGE == "minimal":
        bulk.insert_prediction(_minimal_copy(prediction))
    return prediction


def _minimal_copy(prediction: Prediction) -> Prediction:
    minimal = copy.copy(prediction)
    minimal._state = copy.copy(prediction._state)
    for name in FEATURE_NAMES:
        setattr(minimal, FIELD_OF[name], None)
    minimal.warnings = []  # they name answers
    return minimal


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
            warnings=_warnings(known, features),
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


def feedback_create(
    *,
    prediction_id,
    actual: bool,
    source: str = Feedback.Source.IMPORT,
    client_key: str = "",
) -> FeedbackOutcome:
    """Record the actual outcome of a stored prediction, with where it came from (the HTTP
    views name theirs; code that names none, like the model's default, is an import).

    Raises Prediction.DoesNotExist for an unknown id and FeedbackExists for a second feedback:
    the INSERT itself decides (unique constraint), so two concurrent requests cannot both win.
    """
    with transaction.atomic():
        # A minimal row has no feedback link: its id is unknown to everyone, and no outcome
        # can be tied to answers that were not kept.
        prediction = Prediction.objects.get(pk=prediction_id, age__isnull=False)
        return _feedback_insert(prediction, actual, source=source, client_key=client_key)


def feedback_create_with_features(
    features: Mapping[str, Any], *, actual: bool, client_key: str = ""
) -> FeedbackOutcome:
    """The original API's shape: store a prediction for these features (channel api), then
    its feedback (source original_api), in one transaction."""
    started = time.perf_counter()
    with transaction.atomic():
        prediction = prediction_create(features, channel=Prediction.Channel.API, started=started)
        return _feedback_insert(
            prediction, actual, source=Feedback.Source.ORIGINAL_API, client_key=client_key
        )


def _feedback_insert(
    prediction: Prediction, actual: bool, *, source: str, client_key: str
) -> FeedbackOutcome:
    # No savepoint around the INSERT (two round trips fewer): both callers run it inside
    # their own atomic block, and a duplicate leaves that block at once with FeedbackExists,
    # which rolls the whole block back; nothing runs in the failed transaction.
    try:
        feedback = Feedback.objects.create(
            prediction=prediction, actual=bool(actual), source=source, client_key=client_key
        )
    except IntegrityError:
        raise FeedbackExists(f"Prediction {prediction.pk} already has its feedback.") from None
    total, pending = selectors.feedback_counts()
    outcome = FeedbackOutcome(feedback=feedback, total_feedbacks=total)
    # The usable labels are a subset of the pending ones (the O(1) tally): below the
    # threshold nothing is counted. Above it, the crossing is read from the labels the data
    # trigger counts, so that an untrusted flood neither queues a retrain nor hides the
    # later crossing of the usable ones.
    if pending >= settings.RETRAIN_THRESHOLD and selectors.usable_crossing(
        feedback, reference_rows=reference_count()
    ):
        # This feedback crossed the threshold: one retrain per crossing, not one per feedback
        # above it. After the commit, so that the retrain sees this row; the flag is set only
        # when a queued run was recorded and its message really left.
        transaction.on_commit(lambda: _trigger_retrain(outcome))
    return outcome


def _trigger_retrain(outcome: FeedbackOutcome) -> None:
    outcome.retrain_triggered = events.retrain_threshold_crossed()
