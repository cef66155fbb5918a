"""Each trigger alone fires a retrain; without one, the skip is recorded with the numbers."""

from datetime import timedelta

import pytest

from monitoring.models import MonitoringReport
from predictions.models import Feedback
from training import retrain, triggers
from training.models import ModelVersion, RetrainRun

from .conftest import add_labelled

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind


@pytest.fixture(autouse=True)
def _quiet_triggers(settings):
    """Nothing fires unless a test makes it: high data threshold, no reports, right labels."""
    settings.RETRAIN_THRESHOLD = 1000
    settings.DRIFT_THRESHOLD = 0.3
    settings.ACCURACY_THRESHOLD = 0.85
    settings.MIN_LABELLED_ROWS = 30
    # The original absolute rule; the relative one (the default) is in test_loop_triggers.py.
    settings.PERFORMANCE_TRIGGER = "absolute"


def _report(kind, summary, **fields):
    return MonitoringReport.objects.create(kind=kind, status="ok", summary=summary, **fields)


def _retrain(**kwargs):
    return retrain.model_retrain(trigger=RetrainRun.Trigger.SCHEDULED, **kwargs)


def test_it_fires_the_data_trigger_alone(settings, active_model, reference_data):
    settings.RETRAIN_THRESHOLD = 40
    add_labelled(40, seed=11, outcome="right")
    run = _retrain()
    assert triggers.fired(run.triggers) == ["data"]
    data = run.triggers["data"]
    assert (data["value"], data["threshold"], data["fired"]) == (40, 40, True)
    assert run.decision in ("promoted", "rejected")
    assert run.rows_production == 40


def test_it_does_not_fire_the_data_trigger_one_row_short(settings, active_model):
    settings.RETRAIN_THRESHOLD = 41
    add_labelled(40, seed=11, outcome="right")
    evaluated = triggers.evaluate(force=False)
    assert evaluated["data"]["value"] == 40 and not evaluated["data"]["fired"]


def test_it_fires_the_drift_trigger_alone(active_model, reference_data):
    report = _report(Kind.DATA_DRIFT, {"drift_share": 4 / 9})
    run = _retrain()
    assert triggers.fired(run.triggers) == ["drift"]
    drift = run.triggers["drift"]
    assert drift["value"] == pytest.approx(4 / 9) and drift["threshold"] == 0.3
    assert drift["report_id"] == report.pk
    assert run.decision in ("promoted", "rejected")


def test_it_needs_the_drift_share_above_the_threshold(active_model):
    _report(Kind.DATA_DRIFT, {"drift_share": 0.3})
    assert not triggers.evaluate(force=False)["drift"]["fired"]


def test_it_ignores_a_report_older_than_the_model_in_service(active_model):
    old = _report(Kind.DATA_DRIFT, {"drift_share": 1.0})
    MonitoringReport.objects.filter(pk=old.pk).update(
        created_at=active_model.activated_at - timedelta(minutes=1)
    )
    drift = triggers.evaluate(force=False)["drift"]
    assert not drift["fired"] and "predates the model in service" in drift["note"]


def test_it_fires_the_performance_trigger_from_the_report(active_model, reference_data):
    report = _report(Kind.MODEL_PERFORMANCE, {"current": {"accuracy": 0.61, "rows": 200}})
    run = _retrain()
    assert triggers.fired(run.triggers) == ["performance"]
    assert run.triggers["performance"]["value"] == pytest.approx(0.61)
    assert run.triggers["performance"]["report_id"] == report.pk
    assert run.decision in ("promoted", "rejected")


def test_it_measures_accuracy_on_unconsumed_rows_without_a_report(active_model, reference_data):
    add_labelled(40, seed=12, outcome="wrong")
    run = _retrain()
    assert triggers.fired(run.triggers) == ["performance"]
    performance = run.triggers["performance"]
    assert performance["value"] == 0.0 and performance["rows"] == 40
    assert run.rows_production == 40


def test_it_computes_the_served_accuracy_exactly(active_model):
    predictions = add_labelled(40, seed=13, outcome="right")
    wrong = predictions[:10]
    for p in wrong:
        Feedback.objects.filter(prediction=p).update(actual=not p.label)
    performance = triggers.evaluate(force=False)["performance"]
    assert performance["value"] == pytest.approx(30 / 40)
    assert performance["fired"]  # 0.75 < 0.85


def test_it_needs_min_labelled_rows_to_measure_accuracy(settings, active_model):
    settings.MIN_LABELLED_ROWS = 41
    add_labelled(40, seed=12, outcome="wrong")
    performance = triggers.evaluate(force=False)["performance"]
    assert performance["value"] is None and not performance["fired"]
    assert "fewer than MIN_LABELLED_ROWS=41" in performance["note"]


def test_it_fires_the_manual_trigger_alone(active_model, reference_data):
    run = retrain.model_retrain(trigger=RetrainRun.Trigger.MANUAL, force=True)
    assert triggers.fired(run.triggers) == ["manual"]
    assert run.decision in ("promoted", "rejected")


def test_it_records_a_skip_with_every_measured_value(active_model, reference_data):
    add_labelled(35, seed=14, outcome="right")
    _report(Kind.DATA_DRIFT, {"drift_share": 1 / 9})
    _report(Kind.MODEL_PERFORMANCE, {"current": {"accuracy": 0.93}})
    versions = ModelVersion.objects.count()
    run = _retrain()
    run.refresh_from_db()
    assert run.decision == "skipped_no_trigger" and run.finished_at is not None
    assert triggers.fired(run.triggers) == []
    assert run.triggers["data"]["value"] == 35
    assert run.triggers["drift"]["value"] == pytest.approx(1 / 9)
    assert run.triggers["performance"]["value"] == pytest.approx(0.93)
    assert run.triggers["manual"]["value"] is False
    assert "data 35 >= 1000: not fired" in run.reason
    assert ModelVersion.objects.count() == versions
    assert Feedback.objects.filter(consumed_by__isnull=True).count() == 35


def test_it_records_nothing_on_a_dry_run(active_model):
    run = retrain.model_retrain(trigger=RetrainRun.Trigger.MANUAL, force=True, dry_run=True)
    assert run.pk is None and "would retrain" in run.reason
    assert not RetrainRun.objects.exists()


def test_it_refuses_an_unknown_trigger(db):
    with pytest.raises(ValueError, match="unknown retrain trigger"):
        retrain.model_retrain(trigger="initial")
