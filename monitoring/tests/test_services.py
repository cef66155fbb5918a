"""Tests of monitoring.services: one run of the three reports on production rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from monitoring import drift, services
from monitoring.models import MonitoringReport, MonitoringRun
from predictions.models import Feedback, Prediction
from training.features import TARGET

from .conftest import shift, students

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind
SHIFTED = {"Sleep_Duration", "Stress_Level"}


def reports_of(run: MonitoringRun) -> dict[str, MonitoringReport]:
    return {r.kind: r for r in run.reports.all()}


def test_it_flags_the_shifted_features_and_dataset_drift(make_predictions, settings):
    # Two shifted features of nine is a share of 0.22: below the default 0.3 threshold.
    settings.DRIFT_THRESHOLD = 0.2
    make_predictions(shift(students(1000, seed=11)))

    run = services.reports_run()

    reports = reports_of(run)
    assert run.status == MonitoringRun.Status.OK
    assert set(reports) == {Kind.DATA_QUALITY, Kind.DATA_DRIFT, Kind.MODEL_PERFORMANCE}
    drift_report = reports[Kind.DATA_DRIFT]
    summary = drift_report.summary
    assert drift_report.status == MonitoringReport.Status.OK
    assert set(summary["drifted_features"]) == SHIFTED
    assert summary["dataset_drift"] is True
    assert summary["threshold"] == 0.2
    assert summary["drift_share"] == pytest.approx(2 / 9)
    for name in SHIFTED:
        feature = summary["features"][name]
        assert feature["drifted"] is True
        assert feature["score"] >= feature["threshold"]  # a distance above 1,000 reference rows
    assert drift_report.current_rows == 1000
    assert drift_report.reference_rows == 3000  # the version's whole training file
    # Stress + 3 goes past the highest stress the model was trained on.
    quality = reports[Kind.DATA_QUALITY].summary
    assert quality["out_of_range"]["Stress_Level"] > 0
    assert quality["rows"] == 1000
    # No feedback yet: performance is skipped, not faked.
    assert reports[Kind.MODEL_PERFORMANCE].status == MonitoringReport.Status.SKIPPED
    for kind in (Kind.DATA_QUALITY, Kind.DATA_DRIFT):
        html = Path(settings.REPORTS_DIR) / reports[kind].html_path
        assert "<html" in html.read_text(encoding="utf-8")[:2000].lower()
        assert reports[kind].duration_seconds > 0


def test_it_keeps_the_figures_but_writes_no_html_with_reports_html_off(make_predictions, settings):
    settings.DRIFT_THRESHOLD = 0.2
    settings.REPORTS_HTML = False
    make_predictions(shift(students(1000, seed=11)))

    run = services.reports_run()

    reports = reports_of(run)
    assert run.status == MonitoringRun.Status.OK
    assert reports[Kind.DATA_DRIFT].status == MonitoringReport.Status.OK
    assert set(reports[Kind.DATA_DRIFT].summary["drifted_features"]) == SHIFTED
    assert reports[Kind.DATA_QUALITY].summary["out_of_range"]["Stress_Level"] > 0
    assert {r.html_path for r in reports.values()} == {""}
    assert not Path(settings.REPORTS_DIR).exists() or not any(
        Path(settings.REPORTS_DIR).rglob("*.html")
    )


def test_it_does_not_flag_dataset_drift_on_the_reference_distribution(make_predictions):
    make_predictions(students(1000, seed=12))

    run = services.reports_run()

    summary = reports_of(run)[Kind.DATA_DRIFT].summary
    assert summary["threshold"] == 0.2  # the default: two of the nine features (issue 12)
    assert summary["dataset_drift"] is False
    assert not SHIFTED & set(summary["drifted_features"])
    assert summary["drift_share"] <= 0.2


def _hand_metrics(target: np.ndarray, predicted: np.ndarray, probability: np.ndarray) -> dict:
    tp = int(((predicted == 1) & (target == 1)).sum())
    fp = int(((predicted == 1) & (target == 0)).sum())
    fn = int(((predicted == 0) & (target == 1)).sum())
    tn = int(((predicted == 0) & (target == 0)).sum())
    positives, negatives = probability[target == 1], probability[target == 0]
    # ROC AUC: the share of (positive, negative) pairs ranked right, ties counting half.
    pairs = positives[:, None] - negatives[None, :]
    auc = ((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "accuracy": (tp + tn) / len(target),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
        "roc_auc": auc,
    }


def test_it_computes_performance_like_a_hand_count(
    make_predictions, active_model, trained_outcome, settings
):
    make_predictions(students(400, seed=13), labelled=250)
    # Labelled predictions of another version do not judge the model in service.
    from training import services as training_services

    other = training_services.model_register(trained_outcome)
    stray = make_predictions(students(40, seed=14), labelled=40)
    Prediction.objects.filter(pk__in=[p.pk for p in stray]).update(model_version=other)

    run = services.reports_run()

    report = reports_of(run)[Kind.MODEL_PERFORMANCE]
    assert report.status == MonitoringReport.Status.OK, report.error or report.reason
    labelled = Feedback.objects.filter(prediction__model_version=active_model)
    rows = list(labelled.values_list("actual", "prediction__label", "prediction__probability"))
    target, predicted, probability = (
        np.array(column, dtype=float) for column in zip(*rows, strict=True)
    )
    expected = _hand_metrics(target.astype(int), predicted.astype(int), probability)
    got = report.summary["current"]
    assert got["rows"] == report.current_rows == 250
    assert report.summary["labelled_other_versions"] == 40
    assert report.summary["model_version"] == active_model.version
    for key in ("tp", "fp", "fn", "tn"):
        assert got[key] == expected[key], key
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert got[key] == pytest.approx(expected[key]), key
    # Evidently's report scores the model's decisions (its threshold), not probability >= 0.5.
    assert report.summary["evidently"]["report"] == "ClassificationPreset"
    assert report.summary["evidently"]["threshold"] == active_model.threshold
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert report.summary["evidently"]["current"][key] == pytest.approx(expected[key]), key

    # The reference side is the model's own scores on its held-out test rows.
    reference = pd.read_parquet(Path(settings.ARTIFACTS_DIR) / active_model.reference_path)
    test = reference[reference["split"] == "test"]
    expected_reference = _hand_metrics(
        test[TARGET].to_numpy(dtype=int),
        test["prediction"].to_numpy(dtype=int),
        test["probability"].to_numpy(dtype=float),
    )
    assert report.reference_rows == len(test)
    assert (test["prediction"] != test[TARGET]).any()  # scores, not the target copied
    for key in ("accuracy", "f1", "roc_auc"):
        assert report.summary["reference"][key] == pytest.approx(expected_reference[key]), key
    assert report.summary["reference"]["roc_auc"] == pytest.approx(active_model.metrics["roc_auc"])


def test_it_skips_every_report_without_production_data(active_model, settings):
    run = services.reports_run()

    assert run.status == MonitoringRun.Status.SKIPPED
    reports = reports_of(run)
    assert len(reports) == 3
    for report in reports.values():
        assert report.status == MonitoringReport.Status.SKIPPED
        assert report.reason.startswith("No production predictions between")
        assert report.html_path == ""
        assert report.model_version == active_model
    assert not Path(settings.REPORTS_DIR).exists() or not any(
        Path(settings.REPORTS_DIR).rglob("*.html")
    )


def test_it_skips_performance_with_too_few_labelled_rows(make_predictions, settings):
    settings.MIN_LABELLED_ROWS = 30
    make_predictions(students(300, seed=15), labelled=29)

    run = services.reports_run()

    reports = reports_of(run)
    performance = reports[Kind.MODEL_PERFORMANCE]
    assert performance.status == MonitoringReport.Status.SKIPPED
    assert "29 labelled prediction(s)" in performance.reason
    assert "at least 30" in performance.reason
    assert performance.summary["labelled_rows"] == 29
    assert performance.html_path == ""
    assert reports[Kind.DATA_DRIFT].status == MonitoringReport.Status.OK
    assert reports[Kind.DATA_QUALITY].status == MonitoringReport.Status.OK
    assert run.status == MonitoringRun.Status.OK


def test_it_skips_every_report_without_an_active_model(db):
    run = services.reports_run()

    assert run.status == MonitoringRun.Status.SKIPPED
    assert {r.status for r in run.reports.all()} == {MonitoringReport.Status.SKIPPED}
    assert "No model version is active" in run.reason


def test_it_refuses_a_reference_file_that_does_not_match_its_hash(active_model, settings):
    path = Path(settings.ARTIFACTS_DIR) / active_model.reference_path
    path.write_bytes(path.read_bytes() + b"tampered")

    run = services.reports_run()

    assert run.status == MonitoringRun.Status.FAILED
    assert "does not match its recorded sha256" in run.error
    reports = reports_of(run)
    assert {r.status for r in reports.values()} == {MonitoringReport.Status.FAILED}
    assert all("sha256" in r.error and not r.html_path for r in reports.values())


def test_it_records_a_failing_report_and_still_runs_the_others(make_predictions, monkeypatch):
    make_predictions(students(300, seed=16), labelled=100)

    def broken(*args, **kwargs):
        raise RuntimeError("Evidently exploded")

    monkeypatch.setattr(drift, "data_drift", broken)

    run = services.reports_run()

    reports = reports_of(run)
    assert reports[Kind.DATA_DRIFT].status == MonitoringReport.Status.FAILED
    assert reports[Kind.DATA_DRIFT].error == "RuntimeError: Evidently exploded"
    assert reports[Kind.DATA_QUALITY].status == MonitoringReport.Status.OK
    assert reports[Kind.MODEL_PERFORMANCE].status == MonitoringReport.Status.OK
    assert run.status == MonitoringRun.Status.FAILED
    assert "data_drift" in run.error
    assert not MonitoringRun.objects.filter(status=MonitoringRun.Status.RUNNING).exists()


def test_it_stops_at_the_soft_time_limit(make_predictions, monkeypatch):
    make_predictions(students(100, seed=18))

    def slow(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(drift, "data_quality", slow)

    with pytest.raises(SoftTimeLimitExceeded):
        services.reports_run()

    run = MonitoringRun.objects.get()
    assert run.status == MonitoringRun.Status.FAILED
    report = run.reports.get()  # the two other reports were not started
    assert report.kind == Kind.DATA_QUALITY
    assert report.status == MonitoringReport.Status.FAILED
    assert "soft time limit" in report.error


# --- Window --------------------------------------------------------------------------------


def _ok_run_ending(at) -> MonitoringRun:
    run = MonitoringRun.objects.create(status=MonitoringRun.Status.OK)
    MonitoringReport.objects.create(
        run=run,
        kind=Kind.DATA_DRIFT,
        status="ok",
        window_start=at - timedelta(days=1),
        window_end=at,
    )
    return run


def test_it_looks_back_at_least_the_window_hours(db, settings):
    settings.REPORTS_WINDOW_HOURS = 24
    now = timezone.now()
    assert services.report_window_start(now) == now - timedelta(hours=24)
    _ok_run_ending(now - timedelta(hours=6))  # a recent run does not shorten the window
    assert services.report_window_start(now) == now - timedelta(hours=24)


def test_it_reaches_back_to_the_end_of_the_last_successful_run(db, settings):
    now = timezone.now()
    _ok_run_ending(now - timedelta(hours=60))
    failed = MonitoringRun.objects.create(status=MonitoringRun.Status.FAILED)
    MonitoringReport.objects.create(
        run=failed, kind=Kind.DATA_DRIFT, status="failed", window_end=now - timedelta(hours=2)
    )

    assert services.report_window_start(now) == now - timedelta(hours=60)


def test_it_leaves_out_predictions_before_the_window(make_predictions):
    make_predictions(students(50, seed=17), created_at=timezone.now() - timedelta(hours=30))

    run = services.reports_run()

    assert run.status == MonitoringRun.Status.SKIPPED
    assert reports_of(run)[Kind.DATA_DRIFT].reason.startswith("No production predictions")


# --- One run at a time -----------------------------------------------------------------------


def test_it_records_an_overlapping_run_as_skipped(active_model):
    running = MonitoringRun.objects.create(status=MonitoringRun.Status.RUNNING, task_id="first")

    second = services.reports_run(task_id="second")

    assert second.status == MonitoringRun.Status.SKIPPED
    assert f"run #{running.pk}" in second.reason
    assert second.task_id == "second"
    assert not second.reports.exists()
    running.refresh_from_db()
    assert running.status == MonitoringRun.Status.RUNNING


def test_it_frees_the_slot_of_a_run_older_than_the_hard_time_limit(active_model, settings):
    settings.CELERY_TASK_TIME_LIMIT = 1800
    stale = MonitoringRun.objects.create(status=MonitoringRun.Status.RUNNING)
    MonitoringRun.objects.filter(pk=stale.pk).update(
        started_at=timezone.now() - timedelta(seconds=1801)
    )

    run = services.reports_run()

    stale.refresh_from_db()
    assert stale.status == MonitoringRun.Status.FAILED
    assert "hard time limit" in stale.error
    assert run.status == MonitoringRun.Status.SKIPPED  # no production data, but it ran
    assert run.reports.count() == 3


def test_it_takes_over_the_slot_of_its_own_redelivered_task(active_model):
    lost = MonitoringRun.objects.create(status=MonitoringRun.Status.RUNNING, task_id="abc")

    run = services.reports_run(task_id="abc")

    lost.refresh_from_db()
    assert lost.status == MonitoringRun.Status.FAILED
    assert "delivered again" in lost.error
    assert run.reports.count() == 3


def test_it_frees_the_slot_when_a_run_crashes(active_model, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(services, "load_reference", crash)

    with pytest.raises(KeyboardInterrupt):
        services.reports_run()

    run = MonitoringRun.objects.get()
    assert run.status == MonitoringRun.Status.FAILED
    assert run.error.startswith("KeyboardInterrupt")


# --- Retention -------------------------------------------------------------------------------


def _kept_reports(settings, count: int) -> list[MonitoringReport]:
    """`count` ok reports of each kind, oldest first, each with its HTML file."""
    made = []
    start = timezone.now() - timedelta(days=30)
    for i in range(count):
        for kind in Kind.values:
            relative = f"{kind}/old-{i:02d}.html"
            path = Path(settings.REPORTS_DIR) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("<html></html>", encoding="utf-8")
            report = MonitoringReport.objects.create(kind=kind, status="ok", html_path=relative)
            MonitoringReport.objects.filter(pk=report.pk).update(
                created_at=start + timedelta(hours=6 * i)
            )
            made.append(report)
    return made


def test_it_deletes_the_oldest_report_and_its_file_on_the_eleventh(
    active_model, settings, django_capture_on_commit_callbacks
):
    settings.MAX_REPORTS = 10
    old = _kept_reports(settings, 11)
    oldest = {r.kind: r for r in old[:3]}
    (Path(settings.REPORTS_DIR) / oldest[Kind.MODEL_PERFORMANCE].html_path).unlink()  # gone: fine

    with django_capture_on_commit_callbacks(execute=True):
        services.reports_prune()

    for kind in Kind.values:
        kept = MonitoringReport.objects.filter(kind=kind)
        assert kept.count() == 10
        assert not kept.filter(pk=oldest[kind].pk).exists()
        assert not (Path(settings.REPORTS_DIR) / oldest[kind].html_path).exists()
    for report in old[3:]:
        assert (Path(settings.REPORTS_DIR) / report.html_path).exists()


def test_it_never_lets_skipped_reports_push_a_successful_one_out(
    active_model, settings, django_capture_on_commit_callbacks
):
    settings.MAX_REPORTS = 10
    good = _kept_reports(settings, 10)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(12):  # no production data: three skipped reports per run
            services.reports_run()

    for kind in Kind.values:
        assert MonitoringReport.objects.filter(kind=kind, status="ok").count() == 10
        assert MonitoringReport.objects.filter(kind=kind, status="skipped").count() == 10
    for report in good:
        assert (Path(settings.REPORTS_DIR) / report.html_path).exists()


def test_it_keeps_the_files_when_the_deletion_rolls_back(
    db, settings, django_capture_on_commit_callbacks
):
    old = _kept_reports(settings, 2)

    with (  # noqa: PT012 (the block is the rolled-back transaction)
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert services.reports_prune(keep=1) == 3
        raise RuntimeError("rolled back")

    assert MonitoringReport.objects.count() == 6
    assert all((Path(settings.REPORTS_DIR) / r.html_path).exists() for r in old)


def test_it_never_deletes_a_file_outside_the_reports_folder(
    db, settings, tmp_path, django_capture_on_commit_callbacks
):
    outside = tmp_path / "precious.html"
    outside.write_text("keep me", encoding="utf-8")
    MonitoringReport.objects.create(kind=Kind.DATA_DRIFT, status="ok", html_path="../precious.html")
    MonitoringReport.objects.create(kind=Kind.DATA_DRIFT, status="ok")

    with django_capture_on_commit_callbacks(execute=True):
        assert services.reports_prune(keep=1) == 1

    assert outside.read_text(encoding="utf-8") == "keep me"


def test_it_shows_the_group_table_in_evidentlys_performance_report(make_predictions, settings):
    make_predictions(students(500, seed=21), labelled=400)

    run = services.reports_run()

    report = reports_of(run)[Kind.MODEL_PERFORMANCE]
    assert report.status == MonitoringReport.Status.OK, report.error or report.reason
    made_by_evidently = report.summary["evidently"]["groups"]["columns"]
    for feature, table in report.summary["groups"]["features"].items():
        ours = {row["group"]: row for row in table["groups"]}
        theirs = {row["group"]: row for row in made_by_evidently[feature]}
        assert set(theirs) == set(ours), feature
        for name, row in ours.items():
            assert theirs[name]["rows"] == row["n"]
            for metric in ("recall", "false_positive_rate", "precision"):
                assert theirs[name][metric] == pytest.approx(row[metric]["value"]), metric
    html = (Path(settings.REPORTS_DIR) / report.html_path).read_text()
    assert "Per group (fairness)" in html
    assert "Gender = Female" in html and "Department = Medical" in html
