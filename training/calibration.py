"""Is a 49 % estimate a probability? Measure it (ECE, reliability curve) and fix it (a
calibrator fitted on validation rows the model never trained on).

Pure Python: no Django imports.

Binning, stated once for every figure: ECE_BINS (10) equal-width bins over [0, 1], the last one
closed; ECE = sum over non-empty bins of (rows in bin / rows) x |observed rate - mean estimate|.

A calibrator is a monotone map from the model's score to a probability, stored as plain
numbers so that the compiled fast path applies it without scikit-learn:

* "isotonic": np.interp over (x, y) knots, as scikit-learn's IsotonicRegression predicts with
  out_of_bounds="clip";
* "sigmoid": Platt scaling on the log-odds of the score, expit(a * logit(p) + b).

CalibratedPipeline wraps a fitted pipeline with its calibrator: predict_proba() returns the
calibrated probability, and everything that scores rows through predict_proba (the gate, the
reference file, the batch path) sees the calibrated figure.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ECE_BINS = 10
METHODS = ("isotonic", "sigmoid")
# logit() of a score of exactly 0 or 1 is infinite: scores are clipped this far inside.
_LOGIT_EPS = 1e-6


def _bin_of(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((p * bins).astype(np.int64), bins - 1)


def reliability_curve(y_true, proba, *, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """One entry per non-empty equal-width bin: its edges, rows, mean estimate, observed rate."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)
    which = _bin_of(p, bins)
    counts = np.bincount(which, minlength=bins)
    sums = np.bincount(which, weights=p, minlength=bins)
    hits = np.bincount(which, weights=y, minlength=bins)
    return [
        {
            "low": round(b / bins, 6),
            "high": round((b + 1) / bins, 6),
            "count": int(counts[b]),
            "mean_predicted": float(sums[b] / counts[b]),
            "observed": float(hits[b] / counts[b]),
        }
        for b in range(bins)
        if counts[b]
    ]


def expected_calibration_error(y_true, proba, *, bins: int = ECE_BINS) -> float:
    """The row-weighted mean gap between the estimate and the observed rate, per bin."""
    curve = reliability_curve(y_true, proba, bins=bins)
    total = sum(b["count"] for b in curve)
    if not total:
        return 0.0
    return float(sum(b["count"] * abs(b["observed"] - b["mean_predicted"]) for b in curve) / total)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class Calibrator:
    """A fitted score -> probability map (see the module docstring)."""

    method: str
    x: tuple[float, ...] = field(default_factory=tuple)  # isotonic knots
    y: tuple[float, ...] = field(default_factory=tuple)
    a: float = 1.0  # sigmoid slope and intercept on the log-odds
    b: float = 0.0

    def apply(self, proba) -> np.ndarray:
        p = np.asarray(proba, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(p, self.x, self.y)
        z = self.a * _logit(p) + self.b
        return 1.0 / (1.0 + np.exp(-z))

    def scalar_function(self):
        """apply() for one float, as a closure over local copies of the numbers: the fast path
        calls it once a prediction, and attribute lookups would cost as much as the arithmetic.
        Same formula as np.interp, so both agree to the last bits or so."""
        exp, log, bisect_right = math.exp, math.log, bisect.bisect_right
        if self.method == "isotonic":
            x, y = list(self.x), list(self.y)
            first_x, last_x, first_y, last_y = x[0], x[-1], y[0], y[-1]
            slopes = [
                (y[i] - y[i - 1]) / (x[i] - x[i - 1]) if x[i] != x[i - 1] else 0.0
                for i in range(1, len(x))
            ]
            slopes.insert(0, 0.0)

            def isotonic(p: float) -> float:
                if p <= first_x:
                    return first_y
                if p >= last_x:
                    return last_y
                i = bisect_right(x, p)
                return slopes[i] * (p - x[i - 1]) + y[i - 1]

            return isotonic
        a, b, eps = self.a, self.b, _LOGIT_EPS

        def sigmoid(p: float) -> float:
            q = eps if p < eps else 1 - eps if p > 1 - eps else p
            z = a * log(q / (1 - q)) + b
            return 1.0 / (1.0 + exp(-z)) if z > -700 else 0.0

        return sigmoid

    def describe(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": "isotonic", "knots": len(self.x)}
        return {"method": "sigmoid", "a": self.a, "b": self.b}


def fit_calibrator(y_true, proba, method: str) -> Calibrator:
    """Fit an isotonic or a sigmoid map from `proba` to the labels `y_true`."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
        return Calibrator(
            "isotonic",
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p)[:, None], y.astype(int))
        return Calibrator("sigmoid", a=float(model.coef_[0, 0]), b=float(model.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}; expected one of {METHODS}")


def choose_calibrator(y_true, proba, *, seed: int = 42) -> tuple[Calibrator, dict[str, Any]]:
    """Pick isotonic or sigmoid by the Brier score of 2-fold cross-fitted calibration on the
    validation rows (each half calibrated by a map fitted on the other half), then fit the
    winner on all of them. Returns (calibrator, {method: cross-fitted Brier, ECE, "proba"}).

    The cross-fitted probabilities are also what the validation metrics are computed on, so
    they stay out-of-sample for the calibrator as well as for the model.
    """
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=bool)
    for label in (0, 1):  # stratified halves
        rows = np.flatnonzero(y == label)
        fold[rng.permutation(rows)[: len(rows) // 2]] = True
    scores: dict[str, Any] = {}
    crossfit: dict[str, np.ndarray] = {}
    for method in METHODS:
        out = np.empty(len(y))
        for held in (fold, ~fold):
            out[held] = fit_calibrator(y[~held], p[~held], method).apply(p[held])
        crossfit[method] = out
        scores[method] = {
            "brier": float(np.mean((out - y) ** 2)),
            "ece": expected_calibration_error(y, out),
        }
    best = min(METHODS, key=lambda m: (scores[m]["brier"], METHODS.index(m)))
    return fit_calibrator(y, p, best), {"scores": scores, "proba": crossfit[best]}


class CalibratedPipeline:
    """A fitted pipeline followed by its calibrator, with the pipeline's predict_proba."""

    def __init__(self, pipeline: Any, calibrator: Calibrator):
        self.pipeline = pipeline
        self.calibrator = calibrator

    @property
    def classes_(self):
        return self.pipeline.classes_

    @property
    def feature_names_in_(self):
        return self.pipeline.feature_names_in_

    @property
    def named_steps(self):
        return self.pipeline.named_steps

    def predict_proba(self, X) -> np.ndarray:
        calibrated = self.calibrator.apply(self.pipeline.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - calibrated, calibrated])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def base_pipeline(model: Any) -> Any:
    """The uncalibrated pipeline inside `model` (itself when it is not calibrated)."""
    return model.pipeline if isinstance(model, CalibratedPipeline) else model
