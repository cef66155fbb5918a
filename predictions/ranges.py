"""What each model version was trained on, and the warnings for values outside it.

The ranges (min/max of each numeric feature, categories seen) come from the version's
reference parquet, train split, read ONCE per version and per process: the prediction hot path
only compares a few numbers. A missing or altered reference file gives no ranges (and no
warnings) rather than a failed prediction; it is logged once.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from filestore import files
from training.features import BY_NAME, CATEGORICAL_FEATURES, NUMERIC_FEATURES
from training.models import ModelVersion

logger = logging.getLogger(__name__)

OUTSIDE_RANGE = "outside_training_range"
UNSEEN_CATEGORY = "unseen_category"


@dataclass(frozen=True)
class TrainingRanges:
    numeric: dict[str, tuple[float, float]] = field(default_factory=dict)
    categories: dict[str, frozenset[str]] = field(default_factory=dict)

    def warnings(self, features: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One warning per value the model never saw in training (empty when all are inside)."""
        found = []
        for name, (low, high) in self.numeric.items():
            value = features[name]
            if value < low or value > high:
                found.append(
                    {
                        "feature": name,
                        "code": OUTSIDE_RANGE,
                        "value": value,
                        "training_min": low,
                        "training_max": high,
                        "message": (
                            f"{name} {value:g} is outside the range the model was trained on "
                            f"({low:g}–{high:g}); the estimate is less reliable."
                        ),
                    }
                )
        for name, seen in self.categories.items():
            value = features[name]
            if value not in seen:
                found.append(
                    {
                        "feature": name,
                        "code": UNSEEN_CATEGORY,
                        "value": value,
                        "message": (
                            f"{name} {value} was not seen in training; "
                            "the estimate is less reliable."
                        ),
                    }
                )
        return found


# Keyed by the loaded model object itself: a version loaded anew (another process state, a
# test) computes its ranges again, and the entry goes away with the model it describes.
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ranges_for(loaded) -> TrainingRanges:
    """The training ranges of a loaded model (serving.LoadedModel), computed on first use."""
    ranges = _cache.get(loaded)
    if ranges is not None:
        return ranges
    with _lock:
        ranges = _cache.get(loaded)
        if ranges is None:
            row = ModelVersion.objects.only("reference_path", "reference_sha256").get(
                pk=loaded.version_id
            )
            ranges = _cache[loaded] = _read(row)
        return ranges


def _read(row: ModelVersion) -> TrainingRanges:
    try:
        data = files.read_verified(files.ARTIFACTS, row.reference_path, row.reference_sha256)
        frame = pd.read_parquet(
            io.BytesIO(data), columns=[*NUMERIC_FEATURES, *CATEGORICAL_FEATURES, "split"]
        )
    except (OSError, ValueError) as exc:
        logger.warning("training_ranges_unavailable version_id=%s error=%s", row.pk, exc)
        return TrainingRanges()
    train = frame[frame["split"] == "train"]
    if train.empty:
        train = frame
    numeric = {}
    for name in NUMERIC_FEATURES:
        column = pd.to_numeric(train[name], errors="coerce")
        low, high = float(column.min()), float(column.max())
        if math.isfinite(low) and math.isfinite(high):
            whole = BY_NAME[name].kind == "int"
            numeric[name] = (int(low), int(high)) if whole else (low, high)
    categories = {}
    for name in CATEGORICAL_FEATURES:
        categories[name] = frozenset(str(value) for value in train[name].dropna().unique())
    return TrainingRanges(numeric=numeric, categories=categories)
