"""Performance without labels: confidence-based performance estimation (CBPE).

Pure Python: no Django imports.

When the probabilities are calibrated, a row scored p is positive with probability p. At the
model's threshold each row's decision is known, so the confusion matrix has an expected value:

    E[TP] = sum of p over rows predicted positive     E[FP] = sum of (1 - p) over the same rows
    E[FN] = sum of p over rows predicted negative     E[TN] = sum of (1 - p) over the same rows

and accuracy, precision, recall and F1 follow from those four numbers (as in NannyML's CBPE).
ROC AUC is estimated the same way: every pair (positive, negative) weighted by p_i (1 - p_j).

What it cannot see: a change of the relation between the answers and the outcome (concept
shift). The scores then stay where they were, so the estimate stays where it was while the
realised figures fall. It also inherits any miscalibration of the scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def expected_confusion(proba, threshold: float) -> dict[str, float]:
    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)
    predicted = p >= threshold
    return {
        "tp": float(p[predicted].sum()),
        "fp": float((1 - p[predicted]).sum()),
        "fn": float(p[~predicted].sum()),
        "tn": float((1 - p[~predicted]).sum()),
    }


def expected_roc_auc(proba) -> float | None:
    """sum over pairs i != j of p_i (1 - p_j) [s_i > s_j, ties 1/2] / sum of p_i (1 - p_j)."""
    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)
    unique, inverse = np.unique(p, return_inverse=True)
    pos = np.bincount(inverse, weights=p, minlength=len(unique))
    neg = np.bincount(inverse, weights=1 - p, minlength=len(unique))
    below = np.cumsum(neg) - neg
    # A row is not paired with itself: remove its own p (1 - p) from the tied half.
    tied_self = float(np.sum(p * (1 - p)))
    wins = float(np.dot(pos, below + 0.5 * neg)) - 0.5 * tied_self
    total = float(pos.sum() * neg.sum()) - tied_self
    return _ratio(wins, total)


def estimate(proba, threshold: float) -> dict[str, Any]:
    """The estimated metrics of rows scored `proba` (calibrated) at `threshold`."""
    p = np.asarray(proba, dtype=np.float64)
    c = expected_confusion(p, threshold)
    n = len(p)
    return {
        "accuracy": _ratio(c["tp"] + c["tn"], n),
        "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
        "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
        "f1": _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]),
        "roc_auc": expected_roc_auc(p) if n >= 2 else None,
        "expected_positives": c["tp"] + c["fn"],
        "confusion_matrix": [[c["tn"], c["fp"]], [c["fn"], c["tp"]]],
        "rows": n,
    }
