"""Reads of the training app that other apps may use."""

from __future__ import annotations

import pandas as pd

from .features import FEATURE_NAMES, FIELD_OF, TARGET
from .models import ModelVersion, RetrainRun, StudentRecord


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


# The decisions a drift or performance condition is "held" across (training.triggers): a failed
# run does not count, so that the next check tries again.
DECIDED = ("promoted", "rejected", "skipped_no_trigger", "skipped_unchanged_data")


def last_decision() -> RetrainRun | None:
    """The newest run that evaluated the triggers and decided (not queued, running or failed)."""
    return RetrainRun.objects.filter(decision__in=DECIDED).order_by("-started_at", "-pk").first()


def last_rejected_fingerprint() -> str | None:
    """The data fingerprint of the newest rejected retrain's challenger, when it has one."""
    run = (
        RetrainRun.objects.filter(decision="rejected", new_version__isnull=False)
        .select_related("new_version")
        .order_by("-started_at", "-pk")
        .first()
    )
    if run is None or run.new_version is None:
        return None
    return run.new_version.data_fingerprint


def retrain_run(pk: int) -> RetrainRun:
    """One retrain run with what its status page shows (raises RetrainRun.DoesNotExist)."""
    related = ("requested_by", "champion", "new_version")
    return RetrainRun.objects.select_related(*related).get(pk=pk)
