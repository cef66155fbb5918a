"""The run: champion/challenger gate, swap, archive, notification, failure and recovery."""

import dataclasses
import json
import logging
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from django.core import mail
from django.utils import timezone

from predictions import selectors as prediction_selectors
from predictions.models import Feedback, Prediction
from training import artifacts, gate, retrain, services, serving
from training.models import ActivationEvent, ModelVersion, RetrainRun
from training.selectors import reference_dataframe

from .conftest import add_labelled

pytestmark = pytest.mark.django_db

MANUAL = RetrainRun.Trigger.MANUAL


def _force(**kwargs):
    return retrain.model_retrain(trigger=MANUAL, force=True, **kwargs)


def _artifact_files(settings):
    return sorted(p.name for p in settings.ARTIFACTS_DIR.iterdir())


def test_it_promotes_a_better_challenger(
    weak_champion, reference_data, settings, caplog, eager, django_capture_on_commit_callbacks
):
    add_labelled(120, seed=21)
    caplog.set_level(logging.INFO, logger="training.retrain")
    with django_capture_on_commit_callbacks(execute=True):  # the alert's delivery runs
        run = _force()
    run.refresh_from_db()
    assert run.decision == "promoted", run.reason
    assert run.challenger_score > run.champion_score
    assert run.champion_id == weak_champion.pk and run.selection_metric == "roc_auc"
    new = run.new_version
    assert new.status == "active" and new.run_id == run.pk
    assert serving.get_active_model().version == new.version
    event = ActivationEvent.objects.get(version=new)
    assert event.previous_id == weak_champion.pk and f"retrain #{run.pk}" in event.reason
    weak_champion.refresh_from_db()
    assert weak_champion.status == "retired"
    assert (settings.ARTIFACTS_DIR / weak_champion.artifact_path).exists()  # the backup stays
    algorithms = [c["algorithm"] for c in run.candidates]
    assert algorithms[:3] == ["logistic_regression", "random_forest", "xgboost"]
    challenger, in_service = run.candidates[3:]
    assert challenger["role"] == "challenger" and challenger["algorithm"] == new.algorithm
    assert in_service["in_service"] and in_service["version"] == weak_champion.version
    assert in_service["test"]["roc_auc"] == pytest.approx(run.champion_score)
    assert challenger["test"]["roc_auc"] == pytest.approx(run.challenger_score)
    # Compared only on held-out rows the champion never trained on, the same for both.
    assert 30 <= in_service["rows"] == challenger["rows"] < in_service["of"]
    assert challenger["test"]["n"] == in_service["test"]["n"] == in_service["rows"]
    assert f"test rows v{weak_champion.version} never saw" in run.reason
    assert set(run.step_seconds) >= {"evaluate", "claim", "merge", "train", "gate", "swap"}
    assert (run.rows_reference, run.rows_production) == (3000, 120)
    assert run.rows_merged == 3120 - run.duplicates_removed
    # One e-mail for the event, the alert's (the retrain itself mailed a second one before).
    assert len(mail.outbox) == 1 and "into service" in mail.outbox[0].subject
    assert "challenger_score" in mail.outbox[0].body
    line = next(r.getMessage() for r in caplog.records if "retrain_finished" in r.getMessage())
    logged = json.loads(line.split(" ", 1)[1])
    assert logged["decision"] == "promoted" and logged["new_version"] == new.version
    assert logged["challenger_score"] == run.challenger_score


def test_it_rejects_a_worse_challenger(recall_champion, reference_data, settings):
    settings.MODEL_SELECTION_METRIC = "recall"
    settings.PROMOTION_TOLERANCE = 0.0
    before = _artifact_files(settings)
    run = _force()
    run.refresh_from_db()
    assert run.decision == "rejected", run.reason
    assert run.champion_score == 1.0 > run.challenger_score
    assert "challenger recall" in run.reason and "compared on the 600 of 600" in run.reason
    assert run.new_version.status == "rejected"
    recall_champion.refresh_from_db()
    assert recall_champion.status == "active"
    assert serving.get_active_model().version == recall_champion.version
    assert ActivationEvent.objects.count() == 1
    # The rejected version is kept, with its own new files; nothing was overwritten.
    after = _artifact_files(settings)
    assert set(before) < set(after) and len(after) == len(before) + 2
    assert mail.outbox == []


def test_it_promotes_within_the_tolerance(recall_champion, reference_data, settings):
    settings.MODEL_SELECTION_METRIC = "recall"
    settings.PROMOTION_TOLERANCE = 1.0  # any recall is "not worse by more than 1"
    run = _force()
    assert run.decision == "promoted" and run.champion_score > run.challenger_score


def test_it_compares_on_the_whole_split_when_the_champion_saw_every_row(memorising_champion):
    run = _force()
    assert "only 0 of the 600 test rows are new" in run.reason
    assert run.decision == "rejected" and run.champion_score > run.challenger_score


def test_it_finds_the_test_rows_a_champion_never_saw(active_model, trained_outcome):
    split = trained_outcome.split
    seen, unseen = split.X_train.head(40), split.X_test.head(60)
    mixed = dataclasses.replace(
        split,
        X_test=pd.concat([seen, unseen], ignore_index=True),
        y_test=np.concatenate([split.y_train[:40], split.y_test[:60]]),
    )
    mask, note = gate.unseen_rows(active_model, mixed)
    assert mask.tolist() == [False] * 40 + [True] * 60
    assert note == f"compared on the 60 of 100 test rows v{active_model.version} never saw"


def test_it_promotes_the_first_model_without_a_champion(reference_data):
    run = _force()
    assert run.decision == "promoted" and run.champion is None and run.champion_score is None
    assert serving.get_active_model().version == run.new_version.version


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "tolerance", "promote"),
    [
        ("roc_auc", 0.70, 0.70, 0.0, True),
        ("roc_auc", 0.69, 0.70, 0.0, False),
        ("roc_auc", 0.69, 0.70, 0.02, True),
        ("brier", 0.08, 0.09, 0.0, True),  # a loss: lower wins
        ("brier", 0.10, 0.09, 0.0, False),
        ("brier", 0.10, 0.09, 0.02, True),
        ("roc_auc", None, 0.70, 0.0, False),
        ("roc_auc", 0.60, None, 0.0, True),
    ],
)
def test_it_gates_by_the_metric_direction(metric, challenger, champion, tolerance, promote):
    assert gate.decide(challenger, champion, metric=metric, tolerance=tolerance)[0] is promote


def test_it_merges_and_counts_exact_duplicates(active_model, reference_data):
    reference = reference_dataframe()
    copies = reference.dropna().head(7)
    rows = [
        {
            name: (int(v) if name in ("Age", "Physical_Activity", "Stress_Level") else v)
            for name, v in row.items()
            if name != "Depression"
        }
        for row in copies.to_dict("records")
    ]
    from predictions import services as prediction_services

    predictions = prediction_services.prediction_create_many(rows)
    Feedback.objects.bulk_create(
        Feedback(prediction=p, actual=bool(d))
        for p, d in zip(predictions, copies["Depression"], strict=True)
    )
    add_labelled(30, seed=22)
    run = _force()
    assert (run.rows_production, run.duplicates_removed) == (37, 7)
    assert run.rows_merged == 3000 + 37 - 7


def test_it_refuses_to_merge_nothing():
    empty = pd.DataFrame(columns=["Age"])
    with pytest.raises(ValueError, match="Nothing to train on"):
        retrain.merge_frames(empty, empty)


def test_it_archives_exactly_the_claimed_rows(active_model, reference_data, settings):
    add_labelled(50, seed=23)
    run = _force()
    path = settings.ARCHIVE_DIR / run.archive_path
    assert run.archive_path.startswith("prod_data_archived_") and path.suffix == ".csv"
    archived = pd.read_csv(path)
    claimed = prediction_selectors.claimed_frame(run.pk)
    pd.testing.assert_frame_equal(archived, claimed, check_dtype=False)
    assert Feedback.objects.filter(consumed_by=run).count() == 50
    assert Prediction.objects.count() == 50  # nothing moved or deleted
    assert not list(settings.ARCHIVE_DIR.glob("*.part"))


def test_it_writes_no_archive_without_production_rows(active_model, reference_data, settings):
    run = _force()
    assert run.archive_path == "" and not settings.ARCHIVE_DIR.exists()


def test_it_fails_cleanly_when_training_crashes(
    active_model, reference_data, settings, monkeypatch, eager, django_capture_on_commit_callbacks
):
    add_labelled(40, seed=24)
    before = _artifact_files(settings)

    def crash(*args, **kwargs):
        raise MemoryError("simulated: out of memory while fitting")

    monkeypatch.setattr(services, "model_train", crash)
    with django_capture_on_commit_callbacks(execute=True):  # the alert's delivery runs
        run = _force()
    run.refresh_from_db()
    assert run.decision == "failed" and run.finished_at is not None
    assert "MemoryError: simulated" in run.reason and "Traceback" in run.error
    assert Feedback.objects.filter(consumed_by__isnull=True).count() == 40
    active_model.refresh_from_db()
    assert active_model.status == "active" and _artifact_files(settings) == before
    assert len(mail.outbox) == 1 and "retrain_failed" in mail.outbox[0].subject
    assert "MemoryError" in mail.outbox[0].body


def test_it_fails_cleanly_after_registering(active_model, reference_data, monkeypatch):
    add_labelled(40, seed=25)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(retrain, "_archive", disk_full)
    run = _force()
    run.refresh_from_db()
    assert run.decision == "failed" and "during archive" in run.reason
    assert run.new_version.status == "rejected"  # registered, never put in service
    assert ModelVersion.objects.get(status="active").pk == active_model.pk
    assert Feedback.objects.filter(consumed_by__isnull=True).count() == 40


def test_it_cannot_promote_once_marked_failed_meanwhile(weak_champion, reference_data, monkeypatch):
    train = services.model_train

    def train_then_lose_the_slot(*args, **kwargs):
        outcome = train(*args, **kwargs)
        RetrainRun.objects.filter(decision="running").update(decision="failed", reason="recovered")
        return outcome

    monkeypatch.setattr(services, "model_train", train_then_lose_the_slot)
    run = _force()
    run.refresh_from_db()
    assert run.decision == "failed" and run.reason == "recovered"
    assert ModelVersion.objects.get(status="active").pk == weak_champion.pk


def test_it_does_not_promote_over_a_rollback_made_during_the_run(
    weak_champion, trained_outcome, reference_data, monkeypatch
):
    other = services.model_register(trained_outcome)

    def compare_then_rollback(*args, **kwargs):
        result = real_compare(*args, **kwargs)
        services.model_activate(other, reason="rollback during the run")
        return result

    real_compare = gate.compare
    monkeypatch.setattr(gate, "compare", compare_then_rollback)
    run = _force()
    assert run.decision == "rejected" and "changed during the run" in run.reason
    assert ModelVersion.objects.get(status="active").pk == other.pk


def test_it_recovers_a_run_left_running_by_a_lost_worker(active_model, reference_data, settings):
    add_labelled(30, seed=26)
    lost = RetrainRun.objects.create(trigger=MANUAL, decision="running")
    Feedback.objects.update(consumed_by=lost)
    too_old = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)
    RetrainRun.objects.filter(pk=lost.pk).update(started_at=too_old)
    run = _force()
    lost.refresh_from_db()
    assert lost.decision == "failed" and "hard time limit" in lost.reason
    assert run.decision in ("promoted", "rejected") and run.rows_production == 30
    assert Feedback.objects.filter(consumed_by=run).count() == 30


def test_it_skips_while_a_recent_run_is_running(active_model, reference_data):
    holder = RetrainRun.objects.create(trigger=MANUAL, decision="running")
    run = _force()
    assert run.decision == "skipped_already_running" and f"#{holder.pk}" in run.reason
    assert run.triggers["manual"]["fired"] and run.finished_at is not None


def test_it_processes_a_queued_request_once(active_model, reference_data, admin_user, monkeypatch):
    monkeypatch.setattr(retrain, "_send", lambda run: None)
    queued = retrain.retrain_request(requested_by=admin_user, note="semester data")
    assert queued.decision == "queued" and queued.queued_at is not None
    run = retrain.model_retrain(trigger=MANUAL, force=True, run_id=queued.pk)
    assert run.pk == queued.pk and run.decision in ("promoted", "rejected")
    assert run.requested_by == admin_user and run.task_id == queued.task_id
    versions = ModelVersion.objects.count()
    again = retrain.model_retrain(trigger=MANUAL, force=True, run_id=queued.pk)
    assert again.decision == run.decision and ModelVersion.objects.count() == versions
    assert RetrainRun.objects.count() == 1


def test_it_expires_a_request_no_worker_picked_up(db, settings, monkeypatch):
    monkeypatch.setattr(retrain, "_send", lambda run: None)
    queued = retrain.retrain_request(note="lost message")
    too_old = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)
    RetrainRun.objects.filter(pk=queued.pk).update(queued_at=too_old)
    retrain.recover_stale_runs()
    queued.refresh_from_db()
    assert queued.decision == "failed" and "no worker picked" in queued.reason


def test_it_refuses_a_tampered_champion_and_promotes(active_model, reference_data, settings):
    path = settings.ARTIFACTS_DIR / active_model.artifact_path
    path.write_bytes(path.read_bytes() + b"tampered")
    run = _force()
    assert run.decision == "promoted" and run.champion_score is None
    assert "cannot be loaded" in run.reason
    with pytest.raises(artifacts.ArtifactError):
        serving.load_version(active_model)
