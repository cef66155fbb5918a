"""Calibration, bootstrap intervals and the group table: measured against scikit-learn and
fairlearn, and on data whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from training import calibration, fairness, fastpath, uncertainty
from training import pipeline as P
from training.datagen import generate_students


@pytest.fixture(scope="module")
def split() -> P.DatasetSplit:
    return P.split_dataset(generate_students(4000, seed=11), seed=42)


def test_it_measures_ece_like_by_hand():
    y = [0, 1, 1, 0, 1]
    p = [0.05, 0.05, 0.95, 0.5, 0.55]
    # bins: [0.0, 0.1) -> 2 rows, mean 0.05, observed 0.5; [0.5, 0.6) -> 2 rows, mean 0.525,
    # observed 0.5; [0.9, 1.0] -> 1 row, mean 0.95, observed 1.
    expected = (2 * 0.45 + 2 * 0.025 + 1 * 0.05) / 5
    assert calibration.expected_calibration_error(y, p) == pytest.approx(expected)
    curve = calibration.reliability_curve(y, p)
    assert [(b["low"], b["count"]) for b in curve] == [(0.0, 2), (0.5, 2), (0.9, 1)]
    assert calibration.expected_calibration_error([1], [1.0]) == 0.0  # 1.0 is in the last bin


def test_it_applies_isotonic_knots_as_scikit_learn_predicts():
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = (rng.random(500) < p**2).astype(int)
    fitted = calibration.fit_calibrator(y, p, "isotonic")
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y)
    probe = np.concatenate([rng.random(200), [-0.5, 0.0, 1.0, 1.5]])
    np.testing.assert_allclose(fitted.apply(probe), reference.predict(probe), atol=1e-12)
    scalar = fitted.scalar_function()
    one = [scalar(float(v)) for v in [*probe, *fitted.x]]  # the knots themselves too
    probe = np.concatenate([probe, fitted.x])
    np.testing.assert_allclose(one, fitted.apply(probe), atol=1e-12)


def test_it_applies_the_sigmoid_the_same_row_by_row_and_in_batch():
    rng = np.random.default_rng(1)
    p = rng.random(800)
    y = (rng.random(800) < p**3).astype(int)
    fitted = calibration.fit_calibrator(y, p, "sigmoid")
    assert fitted.a > 1.0  # p**3 is a steeper relation than p: the slope says so
    probe = np.array([0.0, 1e-9, 0.2, 0.5, 0.9, 1.0])
    scalar = fitted.scalar_function()
    np.testing.assert_allclose([scalar(v) for v in probe], fitted.apply(probe))


def _miscalibrated(split):
    """A fitted LR pipeline whose probabilities are pushed to the extremes (margin x 3)."""
    pipe = P.build_pipeline("logistic_regression", n_jobs=1).fit(split.X_train, split.y_train)
    model = pipe.named_steps["model"]
    model.coef_, model.intercept_ = model.coef_ * 3, model.intercept_ * 3 + 1.5
    return pipe


def test_it_calibrates_a_miscalibrated_candidate_on_validation(split, monkeypatch):
    pipe = _miscalibrated(split)
    monkeypatch.setattr(P, "build_pipeline", lambda *a, **k: _FittedAlready(pipe))
    result = P.fit_candidate("logistic_regression", split, n_jobs=1, max_ece=0.03)
    record = result.calibration
    assert record["val_ece_before"] > 0.06 and record["test_ece_before"] > 0.06
    assert record["method"] in calibration.METHODS
    assert isinstance(result.pipeline, calibration.CalibratedPipeline)
    # Measured on test rows neither the model nor the calibrator saw.
    assert record["test_ece"] < 0.05 < record["test_ece_before"]
    assert result.test_metrics["brier"] < record["test_brier_before"]
    assert result.test_metrics["ece"] == record["test_ece"]
    served = P.predict_proba(result.pipeline, split.X_test)
    assert P.evaluate(split.y_test, served, result.threshold) == result.test_metrics


def test_it_leaves_a_calibrated_candidate_alone(split):
    result = P.fit_candidate("logistic_regression", split, n_jobs=1, max_ece=1.0)
    assert result.calibration["method"] == "none"
    assert not isinstance(result.pipeline, calibration.CalibratedPipeline)


class _FittedAlready:
    """build_pipeline's stand-in: a pipeline that is already fitted and ignores fit()."""

    def __init__(self, pipe):
        self.pipe = pipe

    def fit(self, X, y):
        return self

    def __getattr__(self, name):
        return getattr(self.pipe, name)


@pytest.mark.parametrize("method", calibration.METHODS)
def test_it_serves_the_calibrated_probability_on_the_compiled_path(split, method):
    pipe = _miscalibrated(split)
    raw = P.predict_proba(pipe, split.X_val)
    wrapper = calibration.CalibratedPipeline(
        pipe, calibration.fit_calibrator(split.y_val, raw, method)
    )
    predictor = fastpath.compile_predictor(wrapper)
    assert predictor.compiled, predictor.fallback_reason
    expected = P.predict_proba(wrapper, split.X_test)
    assert not np.allclose(expected, P.predict_proba(pipe, split.X_test))
    np.testing.assert_allclose(predictor.predict_proba(split.X_test), expected, atol=1e-9)
    rows = split.X_test.head(50).to_dict("records")
    one = [predictor.predict_proba_one(r) for r in rows]
    np.testing.assert_allclose(one, expected[:50], atol=1e-9)


def test_it_computes_the_point_figures_as_scikit_learn_does(split):
    rng = np.random.default_rng(3)
    y = split.y_test
    p = np.round(rng.random(len(y)) * 0.4 + 0.3 * y, 2)  # rounded: many ties
    point = uncertainty.point_metrics(y, p, 0.4)
    predicted = (p >= 0.4).astype(int)
    assert point["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert point["precision"] == pytest.approx(precision_score(y, predicted))
    assert point["recall"] == pytest.approx(recall_score(y, predicted))
    assert point["f1"] == pytest.approx(f1_score(y, predicted))
    assert point["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert point["brier"] == pytest.approx(brier_score_loss(y, p))
    assert point["ece"] == pytest.approx(calibration.expected_calibration_error(y, p))


def test_it_covers_the_true_figure_about_95_times_in_100():
    """Draw 200 samples of 400 rows from a population whose ROC AUC and recall are known; the
    percentile interval should contain the truth in about 95 % of them."""
    rng = np.random.default_rng(4)
    population = 200_000
    y_all = (rng.random(population) < 0.3).astype(int)
    p_all = np.clip(rng.normal(0.35 + 0.25 * y_all, 0.2), 0, 1)
    truth = uncertainty.point_metrics(y_all, p_all, 0.5)
    hits = {"roc_auc": 0, "recall": 0}
    trials = 200
    for trial in range(trials):
        rows = rng.integers(0, population, 400)
        got = uncertainty.intervals(
            y_all[rows], p_all[rows], 0.5, metrics=tuple(hits), resamples=300, seed=trial
        )
        for metric in hits:
            hits[metric] += got[metric]["low"] <= truth[metric] <= got[metric]["high"]
    for metric, count in hits.items():
        assert 0.89 <= count / trials <= 0.99, (metric, count)


def test_it_pairs_the_difference_on_shared_resamples():
    """Two models that differ by a little on the same rows: the paired interval is far
    narrower than the two separate intervals, and excludes zero when the gain is real."""
    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.3).astype(int)
    base = rng.normal(0.3 * y, 0.3)
    better = base + 0.08 * y  # the same scores with a small real gain on the positives
    paired = uncertainty.paired_difference(y, (better, 0.2), (base, 0.2), "roc_auc")
    separate = uncertainty.intervals(y, base, 0.2, metrics=("roc_auc",))["roc_auc"]
    assert paired["difference"] > 0 and paired["low"] > 0
    assert paired["high"] - paired["low"] < (separate["high"] - separate["low"]) / 3
    same = uncertainty.paired_difference(y, (base, 0.2), (base, 0.2), "roc_auc")
    assert same["difference"] == same["low"] == same["high"] == 0.0


def test_it_builds_the_group_table_as_fairlearn_does_with_intervals(split):
    pipe = P.build_pipeline("logistic_regression", n_jobs=1).fit(split.X_train, split.y_train)
    p = P.predict_proba(pipe, split.X_test)
    threshold = P.choose_threshold(split.y_test, p)
    table = fairness.group_table(split.X_test, split.y_test, p, threshold, resamples=200)
    gender = table["features"]["Gender"]["groups"]
    assert {row["group"] for row in gender} == {"Female", "Male"}
    for row in gender:
        rows = (split.X_test["Gender"] == row["group"]).to_numpy()
        y, q = split.y_test[rows], p[rows]
        assert row["n"] == rows.sum() and row["positives"] == y.sum()
        assert row["recall"]["value"] == pytest.approx(recall_score(y, q >= threshold))
        assert row["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, q))
        assert row["prevalence"]["value"] == pytest.approx(y.mean())
        for metric in fairness.GROUP_METRICS:
            cell = row[metric]
            assert cell["low"] <= cell["value"] <= cell["high"], (metric, cell)
    recalls = [r["recall"]["value"] for r in gender]
    assert table["features"]["Gender"]["recall_gap"] == pytest.approx(max(recalls) - min(recalls))
    worst = max(
        (part["recall_gap"], feature)
        for feature, part in table["features"].items()
        if part["recall_gap"] is not None
    )
    assert table["worst_recall_gap"] == {"feature": worst[1], "gap": worst[0]}
    reference = MetricFrame(
        metrics={
            "recall": recall_score,
            "precision": precision_score,
            "false_positive_rate": false_positive_rate,
        },
        y_true=split.y_test,
        y_pred=(p >= threshold).astype(int),
        sensitive_features=split.X_test["Department"],
    ).by_group
    for metric in ("recall", "precision", "false_positive_rate"):
        mine = {r["group"]: r[metric]["value"] for r in table["features"]["Department"]["groups"]}
        assert mine == pytest.approx(reference[metric].to_dict()), metric


def test_it_leaves_groups_with_few_positives_out_of_the_gap():
    rows = [
        {"group": "a", "positives": 50, "recall": {"value": 0.8}},
        {"group": "b", "positives": 50, "recall": {"value": 0.6}},
        {"group": "c", "positives": 3, "recall": {"value": 0.0}},  # 3 positives: left out
    ]
    assert fairness.recall_gap(rows) == pytest.approx(0.2)
    assert fairness.recall_gap(rows[1:]) is None


def test_it_confirms_a_real_widening_of_the_recall_gap_and_not_noise():
    rng = np.random.default_rng(6)
    n = 4000
    frame = pd.DataFrame({"Gender": rng.choice(["Female", "Male"], n), "Department": "Arts"})
    y = (rng.random(n) < 0.3).astype(int)
    fair = np.clip(rng.normal(0.3 + 0.3 * y, 0.15), 0, 1)
    # The same model, except that it misses most depressed women: a real, wide gap.
    unfair = np.where((frame["Gender"] == "Female") & (y == 1), fair - 0.3, fair)
    masks = fairness.gap_masks(frame, y)
    assert len(masks) == 1  # Department has one group: no gap
    wider = uncertainty.paired_gap_difference(y, masks, (unfair, 0.45), (fair, 0.45))
    assert wider["difference"] > 0.3 and wider["low"] > 0.05
    same = uncertainty.paired_gap_difference(y, masks, (fair, 0.45), (fair, 0.45))
    assert same["difference"] == 0.0 and same["low"] == 0.0


def test_it_explains_a_calibrated_forest_in_its_own_units_and_serves_the_calibrated_figure(split):
    from training.explain import explain

    pipe = P.build_pipeline("random_forest", n_jobs=1).fit(split.X_train, split.y_train)
    raw = P.predict_proba(pipe, split.X_val)
    wrapper = calibration.CalibratedPipeline(
        pipe, calibration.fit_calibrator(split.y_val, raw, "sigmoid")
    )
    predictor = fastpath.compile_predictor(wrapper)
    row = split.X_test.head(1).to_dict("records")[0]
    result = explain(predictor, row)
    assert result.probability == pytest.approx(predictor.predict_proba_one(row))
    assert result.value == pytest.approx(P.predict_proba(pipe, split.X_test.head(1))[0])
    assert result.probability != pytest.approx(result.value)
