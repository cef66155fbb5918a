"""Is production performance significantly worse than the model's own held-out figure?

Pure (no Django): the performance trigger (training.triggers) and the performance alert
(monitoring.alert_rules) both call `performance_drop` on a model-performance report's
summary, so that they always agree.

The test is one-sided: the drop counts when the upper confidence bound of the production
figure lies below the model's test figure minus the tolerance. With 40 labelled rows an
accuracy of 0.65 against a test accuracy of 0.74 is noise (Wilson upper bound 0.78); with
1,000 rows it is not (upper bound 0.67). The bound of each metric:

* accuracy: the Wilson score interval of a proportion;
* roc_auc: Hanley & McNeil's (1982) standard error from the numbers of positives and negatives;
* f1: a seeded bootstrap of the confusion matrix (multinomial draws of tp/fp/fn/tn).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

METRICS = ("roc_auc", "f1", "accuracy")
BOOTSTRAP_DRAWS = 2000


def wilson_upper(successes: int, n: int, z: float) -> float:
    if n <= 0:
        return 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + margin) / (1 + z * z / n))


def auc_upper(auc: float, positives: int, negatives: int, z: float) -> float:
    if positives <= 0 or negatives <= 0:
        return 1.0
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return min(1.0, auc + z * math.sqrt(max(variance, 0.0)))


def f1_upper(tp: int, fp: int, fn: int, tn: int, confidence: float, *, seed: int = 0) -> float:
    n = tp + fp + fn + tn
    if n <= 0:
        return 1.0
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.array([tp, fp, fn, tn], dtype=float) / n, size=BOOTSTRAP_DRAWS)
    denominator = 2 * draws[:, 0] + draws[:, 1] + draws[:, 2]
    f1 = np.where(denominator > 0, 2 * draws[:, 0] / np.maximum(denominator, 1), 0.0)
    return float(np.quantile(f1, confidence))


def performance_drop(
    current: dict, reference_value: float | None, *, metric: str, tolerance: float, confidence
) -> dict:
    """The test on one report: {"value", "upper", "bar", "rows", "significant", "note"}.

    `current` is a model-performance summary's "current" part (counts and metrics);
    `reference_value` the model's own figure on its held-out test split.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown performance metric {metric!r}; expected one of {METRICS}")
    value = current.get(metric)
    rows = int(current.get("rows") or 0)
    result = {
        "metric": metric,
        "value": value,
        "reference": reference_value,
        "rows": rows,
        "upper": None,
        "bar": None,
        "confidence": confidence,
        "significant": False,
        "note": "",
    }
    if value is None or reference_value is None:
        result["note"] = f"{metric} is undefined on the production rows or on the test split"
        return result
    z = float(norm.ppf(confidence))
    tp, fp, fn, tn = (int(current.get(k) or 0) for k in ("tp", "fp", "fn", "tn"))
    if metric == "accuracy":
        upper = wilson_upper(tp + tn, tp + fp + fn + tn, z)
    elif metric == "roc_auc":
        upper = auc_upper(float(value), tp + fn, fp + tn, z)
    else:
        upper = f1_upper(tp, fp, fn, tn, confidence)
    bar = float(reference_value) - tolerance
    result.update(upper=round(upper, 6), bar=round(bar, 6), significant=upper < bar)
    return result
