"""Reads of production data (predictions and their feedback) for the other apps."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from django.db.models import Sum

from training.features import FEATURE_NAMES
from training.selectors import FIELD_OF

from .models import Feedback, FeedbackTally, Prediction

_COLUMNS = [FIELD_OF[name] for name in FEATURE_NAMES]


def production_frame(
    *, since: datetime | None = None, until: datetime | None = None, labelled_only: bool = False
) -> pd.DataFrame:
    """Predictions in a time window, in the Kaggle schema, with their outcome when known.

    Columns: the nine features, `probability`, `prediction` (0/1), `model_version`,
    `created_at`, `actual` (0/1, or NaN without feedback).
    """
    queryset = Prediction.objects.all()
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if labelled_only:
        queryset = queryset.filter(feedback__isnull=False)
    fields = [*_COLUMNS, "probability", "label", "model_version__version", "created_at"]
    rows = list(queryset.order_by("created_at").values_list(*fields, "feedback__actual"))
    frame = pd.DataFrame.from_records(
        rows,
        columns=[
            *FEATURE_NAMES,
            "probability",
            "prediction",
            "model_version",
            "created_at",
            "actual",
        ],
    )
    frame["prediction"] = frame["prediction"].astype(int)
    frame["actual"] = pd.to_numeric(frame["actual"].map({True: 1, False: 0}), errors="coerce")
    return frame


def labelled_frame(*, since: datetime, until: datetime) -> pd.DataFrame:
    """Predictions whose feedback ARRIVED in [since, until), whenever they were made.

    The columns of production_frame(); `actual` is always known. The performance report reads
    its labelled rows here, so a label given days after its prediction is counted.
    """
    queryset = Feedback.objects.filter(created_at__gte=since, created_at__lt=until)
    fields = [f"prediction__{c}" for c in _COLUMNS] + [
        "prediction__probability",
        "prediction__label",
        "prediction__model_version__version",
        "prediction__created_at",
        "actual",
    ]
    rows = list(queryset.order_by("created_at", "pk").values_list(*fields))
    frame = pd.DataFrame.from_records(
        rows,
        columns=[
            *FEATURE_NAMES,
            "probability",
            "prediction",
            "model_version",
            "created_at",
            "actual",
        ],
    )
    frame["prediction"] = frame["prediction"].astype(int)
    frame["actual"] = frame["actual"].astype(int)
    return frame


def claimed_frame(run_id: int) -> pd.DataFrame:
    """The rows a retrain run claimed: the nine features and `Depression` from the feedback."""
    rows = Feedback.objects.filter(consumed_by_id=run_id).order_by("pk")
    values = list(rows.values_list(*[f"prediction__{c}" for c in _COLUMNS], "actual"))
    frame = pd.DataFrame.from_records(values, columns=[*FEATURE_NAMES, "Depression"])
    frame["Depression"] = frame["Depression"].astype(bool)
    return frame


def unconsumed_feedback_count() -> int:
    return feedback_counts()[1]


def feedback_count() -> int:
    return feedback_counts()[0]


def feedback_counts() -> tuple[int, int]:
    """(all feedback, feedback no retrain has consumed yet), exact, in one query.

    Read from FeedbackTally (kept by triggers), not counted: O(1) however many rows exist.
    """
    counts = FeedbackTally.objects.aggregate(total=Sum("total"), pending=Sum("pending"))
    return counts["total"] or 0, counts["pending"] or 0


def features_of(prediction: Prediction) -> dict:
    """The nine features of a stored prediction, keyed by their Kaggle names."""
    return {name: getattr(prediction, FIELD_OF[name]) for name in FEATURE_NAMES}


def prediction_with_feedback(prediction_id) -> Prediction:
    """One prediction with its model version and feedback (raises Prediction.DoesNotExist)."""
    return Prediction.objects.select_related("model_version", "feedback").get(pk=prediction_id)
