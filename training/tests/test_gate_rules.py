"""The gate's rules on their own: the paired non-inferiority test, the calibration refusal and
the recall-gap refusal."""

from __future__ import annotations

import dataclasses

import pytest

from training import gate
from training import pipeline as P
from training.datagen import generate_students


def _paired(difference, low, high, challenger=0.7, champion=0.7):
    return {
        "difference": difference,
        "low": low,
        "high": high,
        "challenger": challenger,
        "champion": champion,
        "rows": 500,
    }


@pytest.mark.parametrize(
    ("metric", "low", "high", "tolerance", "promote"),
    [
        ("roc_auc", -0.005, 0.03, 0.01, True),  # may be a little worse, within the margin
        ("roc_auc", -0.02, 0.03, 0.01, False),  # the point says better, the data cannot tell
        ("roc_auc", 0.0, 0.0, 0.0, True),  # the same model: no difference at all
        ("brier", -0.03, 0.005, 0.01, True),  # a loss: its upper end must stay under +tol
        ("brier", -0.03, 0.02, 0.01, False),
    ],
)
def test_it_promotes_by_the_interval_of_the_paired_difference(
    metric, low, high, tolerance, promote
):
    paired = _paired((low + high) / 2, low, high)
    ok, why = gate.decide_paired(paired, metric=metric, tolerance=tolerance)
    assert ok is promote
    assert "95% interval" in why and "over 500 paired rows" in why


def test_it_falls_back_to_the_point_rule_without_an_interval():
    paired = _paired(-0.01, None, None, challenger=0.69, champion=0.70)
    assert gate.decide_paired(paired, metric="roc_auc", tolerance=0.02)[0] is True
    assert gate.decide_paired(paired, metric="roc_auc", tolerance=0.0)[0] is False


@pytest.fixture(scope="module")
def miscalibrated_outcome() -> P.TrainingOutcome:
    """A logistic regression left uncalibrated whose margin is then tripled: ECE ~0.1."""
    frame = generate_students(4000, seed=12)
    split = P.split_dataset(frame, seed=42)
    result = P.fit_candidate("logistic_regression", split, n_jobs=1, max_ece=1.0)
    model = result.pipeline.named_steps["model"]
    model.coef_, model.intercept_ = model.coef_ * 3, model.intercept_ * 3 + 1.5
    return P.TrainingOutcome([result], result, split, P.data_fingerprint(frame), len(frame))


def test_it_refuses_a_challenger_credibly_miscalibrated(miscalibrated_outcome, settings):
    settings.MAX_ECE = 0.03
    comparison = gate.compare(miscalibrated_outcome, None, metric="roc_auc", tolerance=0.01)
    assert comparison.promote is False
    assert comparison.reason.startswith("refused: its test ECE")
    assert comparison.evidence["ece"]["challenger"]["low"] > 0.03
    settings.MAX_ECE = 0.5
    assert gate.compare(miscalibrated_outcome, None, metric="roc_auc", tolerance=0.01).promote


def test_it_refuses_a_challenger_that_credibly_widens_the_recall_gap(
    miscalibrated_outcome, settings
):
    settings.MAX_ECE, settings.GROUP_GAP_TOLERANCE = 1.0, 0.05
    base = gate.Comparison(True, "challenger roc_auc 0.7 vs 0.7", {"roc_auc": 0.7})
    widened = {"challenger": 0.4, "champion": 0.1, "difference": 0.3, "low": 0.12, "high": 0.5}
    refused = gate._checked(dataclasses.replace(base), miscalibrated_outcome, widened)
    assert refused.promote is False and "widens the worst recall gap" in refused.reason
    assert refused.evidence["recall_gap"]["low"] == 0.12
    noisy = {**widened, "low": -0.02}  # the interval reaches below the tolerance: noise
    assert gate._checked(dataclasses.replace(base), miscalibrated_outcome, noisy).promote is True


def test_it_selects_by_log_loss_lower_wins():
    def result(algorithm, loss):
        return P.CandidateResult(algorithm, None, 0.5, {"log_loss": loss}, {}, 0.0)

    results = [result("logistic_regression", 0.31), result("random_forest", 0.29)]
    assert P.select_winner(results, "log_loss").algorithm == "random_forest"
