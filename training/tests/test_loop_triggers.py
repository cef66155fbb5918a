"""Issue 12's trigger defects: each test fails on the code before the fix.

Relative performance trigger, one retrain per condition (not one per check), no retrain on
unchanged data, pruning of rejected versions' files, and a dead worker's slot freed by its
missing heartbeat.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import checks
from django.utils import timezone

from monitoring.models import MonitoringReport
from predictions.models import Feedback
from training import retrain, services, triggers
from training.models import ModelVersion, RetrainRun

from .conftest import add_labelled

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind
SCHEDULED, MANUAL = RetrainRun.Trigger.SCHEDULED, RetrainRun.Trigger.MANUAL


def _report(kind, summary):
    return MonitoringReport.objects.create(kind=kind, status="ok", summary=summary)


def _performance_summary(rows: int, accuracy: float, roc_auc: float, reference_auc: float):
    tp, fp, fn = round(rows * 0.06), round(rows * (0.94 - accuracy)), round(rows * 0.06)
    current = {"rows": rows, "tp": tp, "fp": fp, "fn": fn, "tn": rows - tp - fp - fn}
    current.update(accuracy=accuracy, roc_auc=roc_auc, f1=2 * tp / (2 * tp + fp + fn))
    return {"current": current, "reference": {"roc_auc": reference_auc, "accuracy": 0.74}}


# --- The performance trigger compares the model with itself -------------------------------------


def test_it_does_not_fire_on_a_healthy_model_with_the_defaults(active_model, reference_data):
    # Accuracy 0.74, the model's own: the old absolute default (0.85) fired a retrain a day.
    _report(Kind.MODEL_PERFORMANCE, _performance_summary(1000, 0.74, 0.71, 0.71))
    run = retrain.model_retrain(trigger=SCHEDULED)
    assert run.decision == "skipped_no_trigger", run.reason
    performance = run.triggers["performance"]
    assert performance["metric"] == "roc_auc" and performance["upper"] > performance["threshold"]


def test_it_fires_when_the_drop_is_significant(active_model):
    _report(Kind.MODEL_PERFORMANCE, _performance_summary(1000, 0.70, 0.60, 0.72))
    performance = triggers.evaluate(force=False)["performance"]
    assert performance["fired"] and performance["upper"] < performance["threshold"] == 0.70


def test_it_does_not_fire_on_a_drop_that_few_labels_cannot_show(active_model):
    _report(Kind.MODEL_PERFORMANCE, _performance_summary(40, 0.70, 0.60, 0.72))
    performance = triggers.evaluate(force=False)["performance"]
    assert not performance["fired"] and performance["upper"] > performance["threshold"]


def test_check_flags_an_absolute_threshold_above_the_models_accuracy(active_model, settings):
    settings.PERFORMANCE_TRIGGER = "absolute"
    settings.ACCURACY_THRESHOLD = active_model.metrics["accuracy"] + 0.05
    found = [m for m in checks.run_checks() if m.id == "training.W001"]
    assert len(found) == 1 and "ACCURACY_THRESHOLD" in found[0].msg
    settings.ACCURACY_THRESHOLD = active_model.metrics["accuracy"] - 0.05
    assert not [m for m in checks.run_checks() if m.id == "training.W001"]


def test_the_admin_flags_an_absolute_threshold_above_the_models_accuracy(
    active_model, settings, admin_client
):
    settings.PERFORMANCE_TRIGGER = "absolute"
    settings.ACCURACY_THRESHOLD = 0.99
    response = admin_client.get("/admin/training/modelversion/")
    assert response.status_code == 200
    assert "is above the test accuracy of the model in service" in response.content.decode()


# --- One retrain per condition, nothing retrained on unchanged data ----------------------------


def test_a_drift_that_persists_retrains_once(active_model, reference_data):
    _report(Kind.DATA_DRIFT, {"drift_share": 4 / 9})
    first = retrain.model_retrain(trigger=SCHEDULED)
    assert triggers.fired(first.triggers) == ["drift"] and first.decision in (
        "promoted",
        "rejected",
    )
    _report(Kind.DATA_DRIFT, {"drift_share": 5 / 9})  # the next day: still drifted
    versions = ModelVersion.objects.count()
    second = retrain.model_retrain(trigger=SCHEDULED)
    assert second.decision == "skipped_no_trigger" and ModelVersion.objects.count() == versions
    assert (
        second.triggers["drift"]["active"] and "not newly fired" in second.triggers["drift"]["note"]
    )
    # The drift ends, then comes back: a new condition, a new retrain.
    _report(Kind.DATA_DRIFT, {"drift_share": 0.0})
    assert retrain.model_retrain(trigger=SCHEDULED).decision == "skipped_no_trigger"
    _report(Kind.DATA_DRIFT, {"drift_share": 4 / 9})
    assert triggers.fired(retrain.model_retrain(trigger=SCHEDULED).triggers) == ["drift"]


def test_it_skips_a_retrain_on_the_data_of_the_last_rejected_one(
    recall_champion, reference_data, settings
):
    settings.MODEL_SELECTION_METRIC = "recall"  # the champion's recall of 1.0 wins every time
    first = retrain.model_retrain(trigger=MANUAL, force=True)
    assert first.decision == "rejected", first.reason
    versions = ModelVersion.objects.count()
    second = retrain.model_retrain(trigger=MANUAL, force=True)
    second.refresh_from_db()
    assert second.decision == "skipped_unchanged_data", second.reason
    assert "same as the last rejected" in second.reason
    assert ModelVersion.objects.count() == versions
    # New labelled rows change the data: it trains again.
    add_labelled(30, seed=41)
    third = retrain.model_retrain(trigger=MANUAL, force=True)
    assert third.decision == "rejected" and third.rows_production == 30


def test_it_prunes_the_files_of_old_rejected_versions(trained_outcome, settings, db):
    settings.KEEP_REJECTED_VERSIONS = 2
    made = [services.model_register(trained_outcome, status="rejected") for _ in range(4)]
    assert retrain.prune_rejected_versions() == 2
    for version in made:
        version.refresh_from_db()
    pruned, kept = made[:2], made[2:]
    for version in pruned:
        assert version.files_pruned_at is not None
        assert not (settings.ARTIFACTS_DIR / version.artifact_path).exists()
        assert not (settings.ARTIFACTS_DIR / version.reference_path).exists()
    for version in kept:
        assert version.files_pruned_at is None
        assert (settings.ARTIFACTS_DIR / version.artifact_path).exists()
    assert ModelVersion.objects.count() == 4  # the rows stay
    assert retrain.prune_rejected_versions() == 0


# --- A dead worker frees the slot within minutes ------------------------------------------------


def test_a_silent_run_frees_the_slot_within_minutes(active_model, reference_data, settings):
    add_labelled(30, seed=42)
    lost = RetrainRun.objects.create(trigger=MANUAL, decision="running")
    Feedback.objects.update(consumed_by=lost)
    # Started and last seen 6 minutes ago: far within the 30-minute hard time limit.
    six_minutes_ago = timezone.now() - timedelta(minutes=6)
    RetrainRun.objects.filter(pk=lost.pk).update(
        started_at=six_minutes_ago, heartbeat_at=six_minutes_ago
    )
    run = retrain.model_retrain(trigger=MANUAL, force=True)
    lost.refresh_from_db()
    assert lost.decision == "failed" and "no heartbeat" in lost.reason
    assert run.decision in ("promoted", "rejected") and run.rows_production == 30


def test_a_beating_run_keeps_its_slot(active_model):
    holder = RetrainRun.objects.create(trigger=MANUAL, decision="running")
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    RetrainRun.objects.filter(pk=holder.pk).update(
        started_at=ten_minutes_ago, heartbeat_at=timezone.now() - timedelta(seconds=20)
    )
    run = retrain.model_retrain(trigger=MANUAL, force=True)
    assert run.decision == "skipped_already_running"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_writes_while_a_run_trains(settings):
    settings.RETRAIN_HEARTBEAT_SECONDS = 1
    run = RetrainRun.objects.create(trigger=MANUAL, decision="running")
    with retrain.Heartbeat(run.pk):
        for _ in range(100):  # polled, not timed: done as soon as the first beat lands
            run.refresh_from_db()
            if run.heartbeat_at is not None:
                break
            time.sleep(0.1)
    assert run.heartbeat_at is not None
