"""Issue 12: the loop replayed on a virtual clock, in short versions of the scenarios.

Scaled down so the suite stays fast: 3,000 reference rows, a few days of 250 predictions, the
reports once a day instead of every 6 hours, and RETRAIN_THRESHOLD / the burst scaled
together. The full-length runs (90 days x 500 predictions) are bench/simulate.py's.
Transactional: the feedback's retrain request and the alerts' deliveries run after commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from mindpulse import beat
from mindpulse.simulator import traffic
from mindpulse.simulator.run import Options, Refused, simulate
from monitoring.task_names import REPORTS_ENTRY, RUN_REPORTS
from training.features import TARGET

SHORT = {"reference_rows": 3000, "per_day": 600, "feedback_rate": 0.1, "seed": 3}
MAIN_DRIFT_MIN_ROWS = 1000  # mindpulse/settings/main.py's default (the test settings lower it)


@pytest.fixture(autouse=True)
def _main_defaults(settings):
    settings.DRIFT_MIN_ROWS = MAIN_DRIFT_MIN_ROWS


def test_the_simulations_use_the_main_default_of_drift_min_rows():
    source = (Path(__file__).parents[1] / "settings" / "main.py").read_text()
    assert f'env_int("DRIFT_MIN_ROWS", {MAIN_DRIFT_MIN_ROWS}, minimum=1)' in source


def reports_on(settings, cron: str) -> None:
    """The reports' beat entry on `cron`, as REPORTS_SCHEDULE=`cron` would make it."""
    fields = dict(
        zip(
            ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"),
            cron.split(),
            strict=True,
        )
    )
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        REPORTS_ENTRY: beat.entry(RUN_REPORTS, fields, tz=settings.CELERY_TIMEZONE),
    }


@pytest.fixture
def daily_reports(settings):
    reports_on(settings, "0 0 * * *")
    settings.TRAINING_N_JOBS = 1


def _events(result, kind):
    return [e for e in result.events if e["type"] == kind]


@pytest.mark.django_db(transaction=True)
def test_it_stays_quiet_on_stable_traffic(daily_reports, tmp_path):
    result = simulate(Options(scenario="stable", days=2, out=str(tmp_path), **SHORT))

    checks = result.summary["checks"]
    assert all(v for k, v in checks.items() if isinstance(v, bool)), checks
    assert result.summary["critical_alerts"] == 0
    assert result.summary["retrain_decisions"] == {"skipped_no_trigger": 2}
    assert result.summary["predictions"] == 1200
    # The reports ran without Evidently's HTML (REPORTS_HTML off in the simulator).
    assert result.summary["reports_html"] is False
    assert not list((tmp_path / "reports").rglob("*.html"))
    # The timeline: one JSON event per line, written as the run went.
    lines = (tmp_path / "timeline.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["type"] for line in lines}
    assert {"setup", "day", "report", "retrain", "activation", "summary"} <= kinds
    assert "<svg" in (tmp_path / "index.html").read_text()
    assert (tmp_path / "charts.svg").exists()


@pytest.mark.django_db(transaction=True)
def test_it_retrains_once_on_a_covariate_shift(daily_reports, tmp_path):
    options = Options(scenario="covariate_shift", days=3, shift_day=1, out=str(tmp_path), **SHORT)
    result = simulate(options)

    checks = result.summary["checks"]
    assert checks["flags Sleep_Duration and Stress_Level"], checks
    assert checks["retrain within 24 h"] and checks["drift-triggered retrains after the shift"] == 1
    (drift_run,) = [e for e in _events(result, "retrain") if "drift" in e["fired"]]
    assert drift_run["decision"] in ("promoted", "rejected") and drift_run["trigger"] == "scheduled"
    assert result.summary["critical_alerts"] == 0


@pytest.mark.django_db(transaction=True)
def test_it_makes_one_retrain_of_a_feedback_burst(settings, tmp_path):
    settings.RETRAIN_THRESHOLD = 100
    settings.TRAINING_N_JOBS = 1
    reports_on(settings, "0 0 1 1 *")  # 1 January: never within the run, no reports
    options = Options(
        scenario="feedback_burst",
        days=1,
        shift_day=0,
        burst_rows=500,
        out=str(tmp_path),
        **{**SHORT, "per_day": 24, "feedback_rate": 0.0},
    )
    result = simulate(options)

    checks = result.summary["checks"]
    assert checks["burst rows"] == 500 and checks["feedback retrains for the burst"] == 1, checks
    # One retrain message for 500 labels over a threshold of 100 (before: one per feedback).
    assert result.summary["retrain_messages"] == 1
    (run,) = [e for e in _events(result, "retrain") if e["trigger"] == "feedback"]
    assert run["rows_production"] == 500  # all of them: the request waited out the burst


@pytest.mark.django_db(transaction=True)
def test_it_retrains_on_a_significant_drop_after_a_concept_shift(daily_reports, settings, tmp_path):
    # Scaled: every prediction labelled (600 a day, ~60 positives), so that one day of labels
    # makes the drop significant; the data trigger kept out of the way.
    settings.RETRAIN_THRESHOLD = 10**6
    options = Options(
        scenario="concept_shift",
        days=4,
        shift_day=1,
        out=str(tmp_path),
        **{**SHORT, "feedback_rate": 1.0},
    )
    result = simulate(options)

    checks = result.summary["checks"]
    assert checks["performance-triggered retrains"] >= 1, json.dumps(checks)
    assert checks["labelled rows of the report that fired"] >= settings.MIN_LABELLED_ROWS
    # The old model faced the new relation: its realised ROC AUC fell, CBPE did not see it.
    realised, estimated = checks["realised / estimated ROC AUC after the shift, old model"]
    assert realised < estimated - 0.03, json.dumps(checks)
    (first, *_) = [e for e in _events(result, "retrain") if "performance" in e["fired"]]
    assert first["decision"] in ("promoted", "rejected") and "data" not in first["fired"]
    print(f"\nconcept_shift: {json.dumps(checks)}; first performance retrain: {first}")  # -s
    # Not asserted: "the promoted model beats the old one on the rows after the promotion".
    # Here the gate rejects the challenger (seed 3: roc_auc 0.572 vs 0.580 on 815 held-out
    # rows, interval [-0.078, +0.062]): trained on 3,000 reference rows of the old relation
    # and 1,500 of the new, it ranks no better, and 815 rows cannot prove it (docs/loop.md).


@pytest.mark.django_db(transaction=True)
def test_it_states_what_a_prevalence_shift_does(daily_reports, tmp_path):
    options = Options(scenario="prevalence_shift", days=3, shift_day=1, out=str(tmp_path), **SHORT)
    result = simulate(options)

    checks = result.summary["checks"]
    before, after = checks["true positive share before / after"]
    assert after / before == pytest.approx(2.0, rel=0.3), checks
    # The ranking is unchanged: recall stays, precision rises with the prevalence.
    precision_before, precision_after = checks["precision before / after"]
    assert precision_after > precision_before, checks
    assert "threshold" in checks["consequence"]
    # The row asks for an alert. It does not hold: no alert watches the share of
    # positive labels, and oversampling one class moves no feature by the drift distance
    # (docs/loop.md). This fails, to be updated, once something detects it.
    assert not checks["detected (an alert about the traffic after the shift)"], checks


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_model_when_one_client_posts_flipped_labels(daily_reports, settings, tmp_path):
    # Scaled: a data retrain every 40 usable labels, so that retrains run while the flipped
    # labels arrive (300 a day through POST /api/feedback, ten a second).
    settings.RETRAIN_THRESHOLD = 40
    options = Options(
        scenario="poisoning",
        days=3,
        shift_day=0,
        poison_per_day=300,
        out=str(tmp_path),
        **{**SHORT, "per_day": 300},
    )
    result = simulate(options)

    checks = result.summary["checks"]
    accepted, _throttled = checks["flipped labels accepted / throttled"]
    assert accepted >= 600, checks
    trained = [e for e in _events(result, "retrain") if e["decision"] in ("promoted", "rejected")]
    assert trained, "no retrain ran: the check would prove nothing"
    assert checks["within 0.01"], checks
    assert checks["statement"].startswith("the model in service kept")


def test_it_refuses_a_database_that_holds_predictions(active_model, tmp_path):
    from predictions.services import prediction_create_many
    from training.tests.conftest import student_rows

    prediction_create_many([{k: v for k, v in student_rows(1, seed=1)[0].items() if k != TARGET}])
    with pytest.raises(Refused, match="already holds predictions"):
        simulate(Options(days=1, out=str(tmp_path)))
    with pytest.raises(CommandError, match="already holds predictions"):
        call_command("simulate", "--database-is-scratch", "--days=1", f"--out={tmp_path}")


def test_the_command_refuses_bad_arguments():
    for bad in (["--days=0"], ["--feedback-rate=1.5"], ["--scenario=meteor"]):
        with pytest.raises(CommandError):
            call_command("simulate", *bad)


# --- The traffic of each scenario (pure) ---------------------------------------------------------


def _day(name: str, day: int, rows: int = 20000, seed: int = 5):
    return traffic.traffic(traffic.Scenario(name, 10), day, rows, np.random.default_rng(seed))


def test_traffic_is_deterministic_for_a_seed():
    assert _day("covariate_shift", 12).equals(_day("covariate_shift", 12))
    assert not _day("stable", 1, seed=5).equals(_day("stable", 1, seed=6))


def test_covariate_shift_moves_sleep_and_stress_from_its_day():
    before, after = _day("covariate_shift", 9), _day("covariate_shift", 10)
    assert before["Sleep_Duration"].mean() - after["Sleep_Duration"].mean() > 1.5
    assert after["Stress_Level"].mean() - before["Stress_Level"].mean() > 2
    assert after["Stress_Level"].max() <= 10 and after["Sleep_Duration"].min() >= 0
    assert after["CGPA"].mean() == pytest.approx(before["CGPA"].mean(), abs=0.03)


def test_concept_shift_keeps_the_features_and_changes_the_relation():
    before, after = _day("concept_shift", 9), _day("concept_shift", 10)
    assert after["Stress_Level"].mean() == pytest.approx(before["Stress_Level"].mean(), abs=0.1)

    def low_cgpa_lift(frame):
        low = frame["CGPA"] < 2.5
        return frame.loc[low, TARGET].mean() - frame.loc[~low, TARGET].mean()

    assert low_cgpa_lift(before) > 0.05 and abs(low_cgpa_lift(after)) < 0.03
    # Only the relation changes: the share of depressed students stays (it halved before the
    # intercept was solved for).
    assert after[TARGET].mean() == pytest.approx(before[TARGET].mean(), rel=0.15)


def test_prevalence_shift_doubles_the_share_of_depressed_students():
    before, after = _day("prevalence_shift", 9), _day("prevalence_shift", 10)
    assert after[TARGET].mean() / before[TARGET].mean() == pytest.approx(2.0, rel=0.12)
