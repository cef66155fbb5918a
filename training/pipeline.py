"""The training pipeline: candidates, split, threshold, metrics and winner selection.

Pure Python: no Django imports. The step names in build_pipeline() are a contract, because
another module compiles a fitted pipeline into numpy and looks the steps up by name.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training import calibration
from training.datagen import FALSE_WORDS, TRUE_WORDS
from training.features import (
    CATEGORICAL_FEATURES,
    DEPARTMENTS,
    FEATURE_NAMES,
    GENDERS,
    NUMERIC_FEATURES,
    TARGET,
)

ALGORITHMS: tuple[str, ...] = ("logistic_regression", "random_forest", "xgboost")

# XGBoost's OpenMP runtime (libgomp) busy-waits at every barrier by default. When n_jobs
# equals the core count and anything else needs a core (a web worker, a test run, a second
# training), the spinning threads starve each other. On 2 cores, the 100k-row XGB fit went
# from 0.3 s to 10-24 s that way; with passive waiting it took ~0.5 s even under contention.
# libgomp reads this variable once, when it loads, so xgboost is imported lazily
# (_estimator) AFTER this line. setdefault keeps an explicit setting, and deployments should
# set it in the environment as well, in case something imports xgboost first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Hyperparameters per algorithm. They are recorded in CandidateResult.params, and n_jobs and
# the seed are added when the estimator is built. RF and XGB were tuned on generated
# 100k-row data (6 seeds, val+test ROC AUC). Compared with depth 10 / leaf 20, the forest at
# depth 8 / leaf 50 scores the same AUC (+0.001) while it fits faster and its file is 2.6x
# smaller (~1.5 MB). The boosted trees at depth 3 beat depth 4 by +0.001 AUC at a lower cost.
# The signal is a few additive steps, so shallow trees are enough.
MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 1000},
    "random_forest": {"n_estimators": 100, "max_depth": 8, "min_samples_leaf": 50},
    "xgboost": {
        "n_estimators": 200,
        "max_depth": 3,
        "learning_rate": 0.05,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "tree_method": "hist",
        "eval_metric": "logloss",
    },
}

# Direction of every metric that can pick the winner. Brier is a loss, so lower wins.
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "average_precision": True,
    "f1": True,
    "balanced_accuracy": True,
    "accuracy": True,
    "recall": True,
    "precision": True,
    "brier": False,
    "log_loss": False,
}
SELECTION_METRICS: tuple[str, ...] = tuple(HIGHER_IS_BETTER)
METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    "brier",
    "log_loss",
    "ece",
    "confusion_matrix",
    "n",
    "positives",
)

# A candidate whose expected calibration error on validation exceeds this is calibrated.
MAX_ECE = 0.03

# choose_threshold() keeps its answer strictly inside (0, 1).
_THRESHOLD_EPS = 1e-6

Progress = Callable[[str, "CandidateResult"], None]


@dataclass
class DatasetSplit:
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_val: pd.DataFrame
    y_val: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


@dataclass
class CandidateResult:
    algorithm: str
    pipeline: Pipeline
    threshold: float
    val_metrics: dict[str, Any]
    test_metrics: dict[str, Any]
    fit_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    # How the probability was measured and, when needed, calibrated (see fit_candidate).
    calibration: dict[str, Any] = field(default_factory=dict)
    test_proba: np.ndarray | None = field(default=None, repr=False)


@dataclass
class TrainingOutcome:
    results: list[CandidateResult]
    winner: CandidateResult
    split: DatasetSplit
    fingerprint: str
    rows: int


def build_pipeline(
    algorithm: str, *, seed: int = 42, use_pca: bool = False, n_jobs: int = 2
) -> Pipeline:
    """Return an unfitted pipeline with the fixed step names "prep", optionally "pca", and
    "model"."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            (
                "onehot",
                OneHotEncoder(
                    categories=[list(GENDERS), list(DEPARTMENTS)],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
            ),
        ]
    )
    prep = ColumnTransformer(
        [
            ("num", numeric, list(NUMERIC_FEATURES)),
            ("cat", categorical, list(CATEGORICAL_FEATURES)),
        ],
        remainder="drop",
        sparse_threshold=0,
    )
    steps: list[tuple[str, Any]] = [("prep", prep)]
    if use_pca:
        steps.append(("pca", PCA(n_components=0.95, random_state=seed)))
    steps.append(("model", _estimator(algorithm, seed=seed, n_jobs=n_jobs)))
    return Pipeline(steps)


def _estimator(algorithm: str, *, seed: int, n_jobs: int) -> Any:
    _check_algorithm(algorithm)
    params = MODEL_PARAMS[algorithm]
    if algorithm == "logistic_regression":
        return LogisticRegression(**params)  # lbfgs is deterministic, so it takes no seed
    if algorithm == "random_forest":
        return RandomForestClassifier(**params, n_jobs=n_jobs, random_state=seed)
    from xgboost import XGBClassifier  # lazy: see OMP_WAIT_POLICY above

    return XGBClassifier(**params, n_jobs=n_jobs, random_state=seed)


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")


def _check_metric(metric: str) -> None:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(
            f"unknown selection metric {metric!r}; expected one of {SELECTION_METRICS}"
        )


def features_of(df: pd.DataFrame) -> pd.DataFrame:
    """Return the nine feature columns, in canonical order. Student_ID and any other extra
    column are dropped here, so no model can ever see them."""
    absent = [c for c in FEATURE_NAMES if c not in df.columns]
    if absent:
        raise ValueError(f"missing feature column(s): {', '.join(absent)}")
    return df.loc[:, list(FEATURE_NAMES)]


def split_dataset(
    df: pd.DataFrame, *, seed: int = 42, test_size: float = 0.2, val_size: float = 0.2
) -> DatasetSplit:
    """Split into train/val/test, stratified on the label.

    test_size and val_size are fractions of the WHOLE frame (the defaults give 60/20/20).
    The index of each X is reset, because the row positions carry no meaning downstream.
    """
    if not (0 < test_size < 1 and 0 < val_size < 1 and test_size + val_size < 1):
        raise ValueError("test_size and val_size must be in (0, 1) and sum to less than 1")
    X = features_of(df)
    y = _labels(df)
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest,
        y_rest,
        test_size=val_size / (1 - test_size),
        stratify=y_rest,
        random_state=seed,
    )
    return DatasetSplit(
        X_train=X_train.reset_index(drop=True),
        y_train=y_train,
        X_val=X_val.reset_index(drop=True),
        y_val=y_val,
        X_test=X_test.reset_index(drop=True),
        y_test=y_test,
    )


def _labels(df: pd.DataFrame) -> np.ndarray:
    if TARGET not in df.columns:
        raise ValueError(f"missing target column {TARGET!r}")
    label = _label_as_float(df[TARGET])
    if label.isna().any():
        raise ValueError(f"{TARGET} has missing or unreadable values; fix those rows first")
    return label.to_numpy().astype(np.int64)


def _label_as_float(values: pd.Series) -> pd.Series:
    """Map the label to 1.0 / 0.0 / NaN, whether it is a bool, a 0/1 number, or text such as
    "True" / "no". The text case matters because bool("False") is True."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        numbers = values.astype(np.float64)
        return numbers.where(numbers.isna(), (numbers != 0).astype(np.float64))
    return values.map(_label_word)


def _label_word(value: Any) -> float:
    if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        return np.nan if pd.isna(value) else float(bool(value))
    word = str(value).strip().lower() if value is not None else ""
    return 1.0 if word in TRUE_WORDS else 0.0 if word in FALSE_WORDS else np.nan


def choose_threshold(
    y_true: Sequence[int] | np.ndarray, proba: Sequence[float] | np.ndarray
) -> float:
    """Return the threshold (predict positive when proba >= threshold) that maximises the F1
    of the positive class on (y_true, proba).

    On a tie, the lowest such threshold wins (np.argmax takes the first), so the answer is
    deterministic. The result is clipped into (0, 1), and a set without positives gets 0.5.
    """
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if y.sum() == 0:
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, p)
    # The curve's last point (recall 0, precision 1) has no threshold, so it is dropped.
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    best = float(thresholds[int(np.argmax(f1))])
    return float(np.clip(best, _THRESHOLD_EPS, 1 - _THRESHOLD_EPS))


def evaluate(
    y_true: Sequence[int] | np.ndarray, proba: Sequence[float] | np.ndarray, threshold: float
) -> dict[str, Any]:
    """Return the metrics at `threshold` as plain Python numbers, ready for JSON.

    The ranking metrics (roc_auc, average_precision) are None when y_true has one class
    only, because they are undefined there.
    """
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    predicted = (p >= threshold).astype(np.int64)
    both_classes = len(np.unique(y)) == 2
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)) if both_classes else None,
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "average_precision": float(average_precision_score(y, p)) if both_classes else None,
        "brier": float(brier_score_loss(y, p, labels=[0, 1])),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "ece": calibration.expected_calibration_error(y, p),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "n": len(y),
        "positives": int(y.sum()),
    }


def predict_proba(pipeline: Pipeline, df: pd.DataFrame) -> np.ndarray:
    """Return the positive-class probabilities, as float64."""
    return np.asarray(pipeline.predict_proba(features_of(df))[:, 1], dtype=np.float64)


def training_parallelism():
    """joblib's threading backend for the fits: scikit-learn's forests split their trees
    with `effective_n_jobs()`, which asks the default (loky, process-based) backend, and loky
    refuses to run inside a daemon process such as a Celery prefork worker ("Loky-backed
    parallel loops cannot be called in a multiprocessing, setting n_jobs=1"), so
    TRAINING_N_JOBS was silently 1 there. The forests fit with threads anyway; XGBoost uses
    its own OpenMP threads."""
    return parallel_config(backend="threading")


def fit_candidate(
    algorithm: str,
    split: DatasetSplit,
    *,
    seed: int = 42,
    use_pca: bool = False,
    n_jobs: int = 2,
    max_ece: float = MAX_ECE,
) -> CandidateResult:
    """Fit on train; measure calibration on val and calibrate there when its ECE exceeds
    `max_ece`; pick the threshold on the (calibrated) val scores; evaluate on test.

    The calibrator is fitted on the validation rows, which the model never trained on. The
    validation metrics of a calibrated candidate come from 2-fold cross-fitted calibration
    (calibration.choose_calibrator), so they stay out-of-sample for the calibrator too and
    the winner's selection is not flattered by it.
    """
    pipeline = build_pipeline(algorithm, seed=seed, use_pca=use_pca, n_jobs=n_jobs)
    with training_parallelism():
        started = time.perf_counter()
        pipeline.fit(split.X_train, split.y_train)
        fit_seconds = time.perf_counter() - started
        raw_val = predict_proba(pipeline, split.X_val)
        raw_test = predict_proba(pipeline, split.X_test)
    val_ece = calibration.expected_calibration_error(split.y_val, raw_val)
    record: dict[str, Any] = {
        "bins": calibration.ECE_BINS,
        "binning": "equal-width",
        "max_ece": max_ece,
        "val_ece_before": val_ece,
        "test_ece_before": calibration.expected_calibration_error(split.y_test, raw_test),
        "test_brier_before": float(np.mean((raw_test - split.y_test) ** 2)),
        "test_reliability_before": calibration.reliability_curve(split.y_test, raw_test),
    }
    model: Any = pipeline
    val_proba = val_scored = raw_val
    test_proba = raw_test
    if val_ece > max_ece:
        calibrator, choice = calibration.choose_calibrator(split.y_val, raw_val, seed=seed)
        model = calibration.CalibratedPipeline(pipeline, calibrator)
        val_proba = calibrator.apply(raw_val)
        val_scored = choice["proba"]
        test_proba = calibrator.apply(raw_test)
        record.update(calibrator.describe(), choice=choice["scores"])
    else:
        record["method"] = "none"
    threshold = choose_threshold(split.y_val, val_proba)
    record["test_reliability"] = calibration.reliability_curve(split.y_test, test_proba)
    test_metrics = evaluate(split.y_test, test_proba, threshold)
    record["test_ece"] = test_metrics["ece"]
    return CandidateResult(
        algorithm=algorithm,
        pipeline=model,
        threshold=threshold,
        val_metrics=evaluate(split.y_val, val_scored, threshold),
        test_metrics=test_metrics,
        fit_seconds=float(fit_seconds),
        params={"seed": seed, "use_pca": use_pca, **MODEL_PARAMS[algorithm]},
        calibration=record,
        test_proba=test_proba,
    )


def select_winner(results: Sequence[CandidateResult], metric: str) -> CandidateResult:
    """Return the best result by `metric` on the VALIDATION metrics.

    The test set stays out of model selection, so the winner's test metrics remain an
    unbiased estimate. Ties go to the algorithm that comes first in ALGORITHMS, and a metric
    that is undefined (None) ranks last.
    """
    _check_metric(metric)
    if not results:
        raise ValueError("no candidate results to select from")
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0

    def rank(result: CandidateResult) -> tuple[float, int]:
        value = result.val_metrics.get(metric)
        score = -np.inf if value is None else sign * float(value)
        known = result.algorithm in ALGORITHMS
        order = ALGORITHMS.index(result.algorithm) if known else len(ALGORITHMS)
        return (-score, order)

    return min(results, key=rank)


def train_candidates(
    df: pd.DataFrame,
    *,
    seed: int = 42,
    metric: str = "roc_auc",
    use_pca: bool = False,
    n_jobs: int = 2,
    algorithms: Sequence[str] = ALGORITHMS,
    progress: Progress | None = None,
    max_ece: float = MAX_ECE,
) -> TrainingOutcome:
    """Split `df`, fit every candidate, and return them all together with the winner."""
    _check_metric(metric)  # check the arguments before spending seconds on training
    for algorithm in algorithms:
        _check_algorithm(algorithm)
    if not algorithms:
        raise ValueError("algorithms must name at least one candidate")
    split = split_dataset(df, seed=seed)
    results = []
    for algorithm in algorithms:
        result = fit_candidate(
            algorithm, split, seed=seed, use_pca=use_pca, n_jobs=n_jobs, max_ece=max_ece
        )
        results.append(result)
        if progress is not None:
            progress(algorithm, result)
    return TrainingOutcome(
        results=results,
        winner=select_winner(results, metric),
        split=split,
        fingerprint=data_fingerprint(df),
        rows=len(df),
    )


def baseline_metrics(split: DatasetSplit) -> dict[str, Any]:
    """Return the test metrics of the majority-class baseline, which always predicts 0 and
    scores every row with the training prevalence."""
    prevalence = float(np.mean(split.y_train))
    proba = np.full(len(split.y_test), prevalence)
    # Since prevalence < 1, a threshold of 1.0 predicts 0 for every row.
    return evaluate(split.y_test, proba, threshold=1.0)


def data_fingerprint(df: pd.DataFrame) -> str:
    """Return the sha256 of the feature and label columns in a canonical binary form.

    Choices:
    * Only the nine features and the label are hashed, so Student_ID and extra columns do
      not change the hash.
    * Columns are hashed in sorted order, each with its name, so column order does not matter.
    * Row order DOES matter. The split depends on it, so the same rows in a different order
      make a different training run.
    * Dtype quirks are ignored. A number is hashed as a float64 rounded to 9 decimal places
      (21 == 21.0 == "21", and 0.1 + 0.2 == 0.3), with -0.0 taken as 0.0. A label is hashed as
      0/1, whether it is a bool, a 0/1 int or text. A blank is hashed as its own marker, not as
      a value.
    * Everything is vectorised, so 100k rows hash in milliseconds.
    """
    columns = sorted([*FEATURE_NAMES, TARGET])
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise ValueError(f"missing column(s) for the fingerprint: {', '.join(absent)}")
    digest = hashlib.sha256(f"rows={len(df)}\n".encode())
    for name in columns:
        values = df[name]
        if name in CATEGORICAL_FEATURES:
            blank = values.isna().to_numpy()
            text = "\x1f".join("" if b else str(v) for v, b in zip(values, blank, strict=True))
            payload = text.encode("utf-8")
        else:
            if name == TARGET:
                numbers = _label_as_float(values).to_numpy(dtype=np.float64)
            else:
                numbers = _as_float(values)
            blank = np.isnan(numbers)
            # Rounding removes float noise, "+ 0.0" turns -0.0 into 0.0, and blanks get a
            # fixed value, because the bit pattern of a NaN is not canonical.
            canonical = np.where(blank, 0.0, np.round(numbers, 9) + 0.0).astype("<f8")
            payload = canonical.tobytes()
        digest.update(f"column={name}\n".encode())
        digest.update(np.packbits(blank).tobytes())
        digest.update(payload)
    return digest.hexdigest()


def _as_float(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
