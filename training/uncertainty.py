"""95 % bootstrap intervals for the test-split figures, and for the paired difference of two
models scored on the same rows.

Pure Python: no Django imports.

A bootstrap resample is drawn as multinomial row counts (the same as sampling n rows with
replacement), so every metric of every resample is a weighted sum over the original rows:
one matrix product per chunk of resamples instead of one scikit-learn call per metric and
resample. ROC AUC is the weighted Mann-Whitney statistic (ties count one half), which equals
sklearn's roc_auc_score on the resampled rows. The interval is the percentile interval
(2.5th and 97.5th percentiles). The paired difference draws ONE set of resamples and scores
both models on each, so the noise both share (which rows happen to be easy) cancels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .calibration import ECE_BINS

RESAMPLES = 1000
LEVEL = 0.95
INTERVAL_METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "false_positive_rate",
    "roc_auc",
    "brier",
    "ece",
    "prevalence",
)
# The gate can compare on these (average_precision has no weighted form here).
PAIRED_METRICS: tuple[str, ...] = (*INTERVAL_METRICS, "balanced_accuracy", "log_loss")
_CHUNK = 100


def _weights(n: int, resamples: int, seed: int):
    rng = np.random.default_rng(seed)
    uniform = np.full(n, 1.0 / n)
    for start in range(0, resamples, _CHUNK):
        size = min(_CHUNK, resamples - start)
        yield rng.multinomial(n, uniform, size=size).astype(np.float64)


def _auc(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC per row of w (resamples x rows): the rows sorted by score once, the
    weights of positives and negatives summed per distinct score, ties counted one half."""
    if len(p) == 0:
        return np.full(len(w), np.nan)
    order = np.argsort(p, kind="stable")
    ordered = p[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    weights, labels = w[:, order], y[order]
    pos = np.add.reduceat(weights * labels, starts, axis=1)
    neg = np.add.reduceat(weights * (1 - labels), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives with a strictly lower score
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    return _ratio(wins, pos.sum(axis=1) * neg.sum(axis=1))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)


def metric_samples(w: np.ndarray, y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    """Every INTERVAL_METRICS figure for each row of weights w (resamples x rows)."""
    y = y.astype(np.float64)
    predicted = (p >= threshold).astype(np.float64)
    n = w.sum(axis=1)
    tp = w @ (y * predicted)
    fp = w @ ((1 - y) * predicted)
    fn = w @ (y * (1 - predicted))
    positives = tp + fn
    negatives = n - positives
    return {
        "accuracy": _ratio(n - fp - fn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, positives),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "false_positive_rate": _ratio(fp, negatives),
        "roc_auc": _auc(w, y, p),
        "brier": _ratio(w @ ((p - y) ** 2), n),
        "ece": _ece(w, y, p),
        "prevalence": _ratio(positives, n),
        "balanced_accuracy": (_ratio(tp, positives) + 1 - _ratio(fp, negatives)) / 2,
        "log_loss": _ratio(w @ _log_loss_terms(y, p), n),
    }


def _ece(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """calibration.expected_calibration_error for each row of weights (same bins)."""
    bins = ECE_BINS
    which = np.minimum((np.clip(p, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    onehot = np.zeros((len(p), bins))
    onehot[np.arange(len(p)), which] = 1.0
    counts, estimates, hits = w @ onehot, w @ (onehot * p[:, None]), w @ (onehot * y[:, None])
    return _ratio(np.abs(hits - estimates).sum(axis=1), counts.sum(axis=1))


def _log_loss_terms(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def point_metrics(y_true, proba, threshold: float) -> dict[str, float | None]:
    """The INTERVAL_METRICS figures on the rows themselves (weights of one)."""
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    values = metric_samples(np.ones((1, len(y))), y, p, threshold)
    return {k: (None if np.isnan(v[0]) else float(v[0])) for k, v in values.items()}


def _bounds(samples: np.ndarray, level: float) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 0.9 * len(samples):  # undefined in too many resamples
        return None, None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def intervals(
    y_true,
    proba,
    threshold: float,
    *,
    metrics: Sequence[str] = INTERVAL_METRICS,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, dict[str, Any]]:
    """{metric: {"value", "low", "high"}}: the figure and its percentile bootstrap interval."""
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    point = point_metrics(y, p, threshold)
    if len(y) == 0 or resamples <= 0:
        return {m: {"value": point[m], "low": None, "high": None} for m in metrics}
    chunks = [metric_samples(w, y, p, threshold) for w in _weights(len(y), resamples, seed)]
    out = {}
    for m in metrics:
        low, high = _bounds(np.concatenate([c[m] for c in chunks]), level)
        out[m] = {"value": point[m], "low": low, "high": high}
    return out


def paired_difference(
    y_true,
    challenger: tuple[Any, float],
    champion: tuple[Any, float],
    metric: str,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Any]:
    """challenger - champion on `metric`, each (probabilities, threshold) on the same rows,
    with the percentile interval of the difference over shared resamples."""
    if metric not in PAIRED_METRICS:
        raise ValueError(f"no paired interval for {metric!r}; one of {PAIRED_METRICS}")
    y = np.asarray(y_true).astype(np.int64)
    (p_a, t_a), (p_b, t_b) = challenger, champion
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    a, b = point_metrics(y, p_a, t_a)[metric], point_metrics(y, p_b, t_b)[metric]
    samples = [
        metric_samples(w, y, p_a, t_a)[metric] - metric_samples(w, y, p_b, t_b)[metric]
        for w in _weights(len(y), resamples, seed)
    ]
    low, high = _bounds(np.concatenate(samples), level)
    return {
        "metric": metric,
        "challenger": a,
        "champion": b,
        "difference": None if a is None or b is None else a - b,
        "low": low,
        "high": high,
        "rows": len(y),
        "resamples": resamples,
        "level": level,
    }


def _worst_gap(w: np.ndarray, y: np.ndarray, p: np.ndarray, threshold: float, masks) -> np.ndarray:
    hit = y * (p >= threshold)
    worst = np.full(len(w), -np.inf)
    for groups in masks:  # one list of row masks per feature
        recalls = np.stack([_ratio(w @ (hit * m), w @ (y * m)) for m in groups], axis=1)
        worst = np.fmax(worst, np.nanmax(recalls, axis=1) - np.nanmin(recalls, axis=1))
    return worst


def paired_gap_difference(
    y_true,
    masks: list[list[np.ndarray]],
    challenger: tuple[Any, float],
    champion: tuple[Any, float],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Worst recall gap between groups (highest minus lowest group recall, worst feature) of
    the challenger minus the champion's, on the same rows, with its interval over shared
    resamples. `masks`: per feature, one 0/1 row mask per group that enters the gap."""
    y = np.asarray(y_true).astype(np.float64)
    (p_a, t_a), (p_b, t_b) = challenger, champion
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    ones = np.ones((1, len(y)))
    a, b = _worst_gap(ones, y, p_a, t_a, masks)[0], _worst_gap(ones, y, p_b, t_b, masks)[0]
    samples = [
        _worst_gap(w, y, p_a, t_a, masks) - _worst_gap(w, y, p_b, t_b, masks)
        for w in _weights(len(y), resamples, seed)
    ]
    low, high = _bounds(np.concatenate(samples), level)
    return {
        "challenger": float(a),
        "champion": float(b),
        "difference": float(a - b),
        "low": low,
        "high": high,
        "rows": len(y),
    }
