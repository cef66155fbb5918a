"""The training pipeline: split, candidates, threshold, metrics, selection and fingerprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from training import pipeline as P
from training.datagen import generate_students
from training.features import FEATURE_NAMES, ID_COLUMN, TARGET

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_students(3000, seed=7)


@pytest.fixture(scope="module")
def split(frame) -> P.DatasetSplit:
    return P.split_dataset(frame, seed=42)


@pytest.fixture(scope="module")
def outcome(frame) -> P.TrainingOutcome:
    seen = []
    result = P.train_candidates(frame, seed=42, n_jobs=1, progress=lambda a, r: seen.append(a))
    assert seen == list(P.ALGORITHMS)  # progress is called once per candidate, in order
    return result


def _result(algorithm: str, **val_metrics) -> P.CandidateResult:
    return P.CandidateResult(
        algorithm=algorithm,
        pipeline=None,
        threshold=0.5,
        val_metrics=val_metrics,
        test_metrics={},
        fit_seconds=0.0,
    )


def test_it_splits_60_20_20_stratified_without_overlap(frame, split):
    assert split.sizes == {"train": 1800, "val": 600, "test": 600}
    prevalence = frame[TARGET].mean()
    for y in (split.y_train, split.y_val, split.y_test):
        assert set(np.unique(y)) == {0, 1} and y.dtype == np.int64
        assert abs(y.mean() - prevalence) < 0.005
    keys = [
        set(map(tuple, X.to_numpy().tolist())) for X in (split.X_train, split.X_val, split.X_test)
    ]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])


def test_it_never_gives_student_id_to_a_model(frame, split, outcome):
    for X in (split.X_train, split.X_val, split.X_test):
        assert list(X.columns) == list(FEATURE_NAMES)
    for result in outcome.results:
        assert list(result.pipeline.feature_names_in_) == list(FEATURE_NAMES)
    # Same features, shuffled IDs: the scores cannot change.
    winner = outcome.winner.pipeline
    shuffled = frame.assign(**{ID_COLUMN: frame[ID_COLUMN].sample(frac=1, random_state=1).values})
    assert np.array_equal(P.predict_proba(winner, frame), P.predict_proba(winner, shuffled))


@pytest.mark.parametrize("algorithm", P.ALGORITHMS)
def test_it_fits_every_algorithm_better_than_the_majority_baseline(outcome, algorithm):
    result = next(r for r in outcome.results if r.algorithm == algorithm)
    baseline = P.baseline_metrics(outcome.split)
    assert baseline["roc_auc"] == 0.5 and baseline["recall"] == 0.0
    assert result.test_metrics["roc_auc"] > baseline["roc_auc"] + 0.08
    assert result.val_metrics["roc_auc"] > baseline["roc_auc"] + 0.08
    assert 0 < result.threshold < 1
    assert result.fit_seconds > 0
    assert result.params["seed"] == 42 and result.params["use_pca"] is False


def test_it_returns_json_ready_results(outcome):
    for result in outcome.results:
        json.dumps(
            {"params": result.params, "val": result.val_metrics, "test": result.test_metrics}
        )
        assert set(result.test_metrics) == set(P.METRICS)
    assert outcome.rows == 3000
    assert outcome.winner is P.select_winner(outcome.results, "roc_auc")


def test_it_builds_the_fixed_step_names_and_adds_pca_only_on_request():
    plain = P.build_pipeline("xgboost", seed=1)
    with_pca = P.build_pipeline("random_forest", seed=1, use_pca=True)
    assert [name for name, _ in plain.steps] == ["prep", "model"]
    assert [name for name, _ in with_pca.steps] == ["prep", "pca", "model"]
    assert with_pca.named_steps["pca"].n_components == 0.95
    prep = plain.named_steps["prep"]
    assert [name for name, _, _ in prep.transformers] == ["num", "cat"]
    with pytest.raises(ValueError, match="unknown algorithm"):
        P.build_pipeline("svm")


def test_it_trains_with_pca(split):
    result = P.fit_candidate("logistic_regression", split, seed=42, use_pca=True, n_jobs=1)
    assert "pca" in result.pipeline.named_steps and result.params["use_pca"] is True
    assert result.test_metrics["roc_auc"] > 0.55


def test_it_chooses_the_threshold_that_maximises_f1():
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.15
    proba = np.clip(0.15 + 0.25 * y + rng.normal(0, 0.15, 400), 0.001, 0.999)
    threshold = P.choose_threshold(y, proba)

    def f1_at(t: float) -> float:
        predicted = proba >= t
        tp = np.sum(predicted & y)
        return 2 * tp / (predicted.sum() + y.sum())

    best = f1_at(threshold)
    grid = np.linspace(0.001, 0.999, 999)
    assert best >= max(f1_at(t) for t in grid) - 1e-12
    assert best == pytest.approx(max(f1_at(t) for t in np.unique(proba)))
    assert best == pytest.approx(f1_score(y, proba >= threshold))
    assert P.choose_threshold(y, proba) == threshold  # deterministic
    assert 0 < threshold < 1


def test_it_keeps_the_threshold_inside_zero_one():
    assert P.choose_threshold([0, 1, 1], [0.0, 1.0, 1.0]) < 1
    assert 0 < P.choose_threshold([1, 1, 0], [0.0, 0.0, 0.0]) < 1
    assert P.choose_threshold([0, 0], [0.2, 0.7]) == 0.5  # no positives


def test_it_evaluates_a_tiny_example_like_by_hand():
    y = [0, 0, 1, 1, 0, 1]
    proba = [0.1, 0.6, 0.8, 0.4, 0.2, 0.9]
    m = P.evaluate(y, proba, 0.5)  # predicts 0,1,1,0,0,1 -> tn 2, fp 1, fn 1, tp 2
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["n"] == 6 and m["positives"] == 3
    for key in ("accuracy", "balanced_accuracy", "precision", "recall", "f1"):
        assert m[key] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(8 / 9)  # 8 of the 9 (pos, neg) pairs ordered right
    assert m["average_precision"] == pytest.approx((1 + 1 + 3 / 4) / 3)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.04 + 0.36 + 0.04 + 0.01) / 6)
    assert P.evaluate(y, proba, 0.85)["confusion_matrix"] == [[3, 0], [2, 1]]


def test_it_reports_undefined_ranking_metrics_as_none():
    m = P.evaluate([0, 0, 0], [0.1, 0.2, 0.3], 0.5)
    assert m["roc_auc"] is None and m["average_precision"] is None
    json.dumps(m)


def test_it_selects_the_winner_by_the_chosen_metric():
    results = [
        _result("logistic_regression", roc_auc=0.70, f1=0.30, brier=0.080),
        _result("random_forest", roc_auc=0.72, f1=0.28, brier=0.090),
        _result("xgboost", roc_auc=0.71, f1=0.33, brier=0.085),
    ]
    assert P.select_winner(results, "roc_auc").algorithm == "random_forest"
    assert P.select_winner(results, "f1").algorithm == "xgboost"
    assert P.select_winner(results, "brier").algorithm == "logistic_regression"  # lower wins


def test_it_breaks_ties_by_algorithm_order_and_ranks_undefined_last():
    tied = [_result("xgboost", roc_auc=0.7), _result("random_forest", roc_auc=0.7)]
    assert P.select_winner(tied, "roc_auc").algorithm == "random_forest"
    undefined = [_result("logistic_regression", roc_auc=None), _result("xgboost", roc_auc=0.6)]
    assert P.select_winner(undefined, "roc_auc").algorithm == "xgboost"


def test_it_rejects_an_unknown_metric_before_training(frame):
    with pytest.raises(ValueError, match="unknown selection metric"):
        P.select_winner([_result("xgboost", roc_auc=0.7)], "auc")
    with pytest.raises(ValueError, match="unknown selection metric"):
        P.train_candidates(frame, metric="auc")
    assert set(P.SELECTION_METRICS) <= set(P.METRICS)


def test_it_fingerprints_the_data_not_its_dtypes(frame):
    digest = P.data_fingerprint(frame)
    assert digest == P.data_fingerprint(frame.copy())
    quirky = frame.astype({"Age": "float64", TARGET: "int64"}).drop(columns=ID_COLUMN)
    quirky = quirky[list(reversed(quirky.columns))]
    assert P.data_fingerprint(quirky) == digest
    changed = frame.copy()
    changed.loc[10, "CGPA"] = round(changed.loc[10, "CGPA"] + 0.01, 2)
    assert P.data_fingerprint(changed) != digest
    blanked = frame.copy()
    blanked.loc[10, "Physical_Activity"] = np.nan
    assert P.data_fingerprint(blanked) != digest
    assert P.data_fingerprint(frame.iloc[::-1]) != digest  # row order is significant


def test_it_records_the_fingerprint_and_trains_only_the_requested_algorithms(frame):
    outcome = P.train_candidates(frame, seed=1, n_jobs=1, algorithms=("logistic_regression",))
    assert outcome.fingerprint == P.data_fingerprint(frame)
    assert [r.algorithm for r in outcome.results] == ["logistic_regression"]
    with pytest.raises(ValueError, match="unknown algorithm"):
        P.train_candidates(frame, algorithms=("logistic_regression", "svm"))


def test_it_reads_text_labels_by_their_meaning(frame):
    as_text = frame.assign(**{TARGET: frame[TARGET].map({True: "True", False: "False"})})
    assert P.data_fingerprint(as_text) == P.data_fingerprint(frame)
    assert np.array_equal(P.split_dataset(as_text).y_test, P.split_dataset(frame).y_test)


@pytest.mark.parametrize(("preset", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_it_makes_openmp_threads_wait_passively_unless_told_otherwise(preset, expected):
    # Spinning OpenMP threads made the XGB fit ~100x slower whenever another process wanted
    # a core (see OMP_WAIT_POLICY in training/pipeline.py). The policy only works if it is set
    # before xgboost loads libgomp, so a fresh interpreter checks both halves.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = (
        "import os, sys; import training.pipeline; "
        "print(os.environ['OMP_WAIT_POLICY'], 'xgboost' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [expected, "False"]


def _fit_forest_in_this_process(queue) -> None:
    import warnings

    from sklearn.ensemble._base import _partition_estimators

    from training import pipeline
    from training.datagen import generate_students

    split = pipeline.split_dataset(generate_students(1500, seed=3), seed=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline.fit_candidate("random_forest", split, n_jobs=2)
        with pipeline.training_parallelism():
            jobs = _partition_estimators(100, 2)[0]
    queue.put((jobs, [str(w.message) for w in caught]))


def test_it_honours_n_jobs_inside_a_daemon_process_like_a_celery_worker():
    import multiprocessing

    # Celery's prefork children are daemon processes, where joblib's loky backend refuses to
    # start and scikit-learn's forests fell back to one job with a warning.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_forest_in_this_process, args=(queue,), daemon=True)
    child.start()
    jobs, messages = queue.get(timeout=300)
    child.join(timeout=60)
    assert jobs == 2
    assert [m for m in messages if "Loky" in m] == []
