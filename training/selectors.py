"""Reads of the training app that other apps may use."""

from __future__ import annotations

import pandas as pd

from .features import FEATURE_NAMES, TARGET
from .models import ModelVersion, RetrainRun, StudentRecord

# Kaggle column name -> database column name (StudentRecord, Prediction).
FIELD_OF = {name: name.lower() for name in FEATURE_NAMES}


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def reference_count() -> int:
    return StudentRecord.objects.count()


def reference_dataframe() -> pd.DataFrame:
    """The reference dataset in the Kaggle schema (nine features + Depression), by id."""
    fields = [FIELD_OF[name] for name in FEATURE_NAMES] + ["depression"]
    rows = StudentRecord.objects.order_by("pk").values_list(*fields)
    frame = pd.DataFrame.from_records(list(rows), columns=[*FEATURE_NAMES, TARGET])
    for name in FEATURE_NAMES:
        if name not in ("Gender", "Department"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame[TARGET] = frame[TARGET].astype(bool)
    return frame


def unconsumed_accuracy() -> tuple[int, float]:
    """(usable labelled rows no retrain has consumed yet, how many the served label got right).

    The same labels a retrain would use (predictions.selectors.usable_labels): anyone's labels
    must not fire a retrain through a poor "accuracy" either.
    """
    from predictions.selectors import usable_labels

    return usable_labels(reference_rows=reference_count()).served_accuracy()


def retrain_run(pk: int) -> RetrainRun:
    """One retrain run with what its status page shows (raises RetrainRun.DoesNotExist)."""
    related = ("requested_by", "champion", "new_version")
    return RetrainRun.objects.select_related(*related).get(pk=pk)
