"""Retention with a virtual clock: answers, archives, exports and report files past their days
are gone after the daily task; the counts and the report summaries stay; what it did is
recorded; the task is on the beat schedule."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from monitoring.models import MonitoringReport
from predictions import selectors, services
from predictions.models import Feedback, Prediction
from privacy import tasks
from privacy.models import RetentionRun
from privacy.retention import retention_run

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(active_model, features, settings):
    """On START: one prediction without feedback, one labelled; a report with its file; an
    archive and an export written that day."""
    settings.RETENTION_DAYS_RAW = 365
    settings.RETENTION_DAYS_LABELLED = 730
    settings.RETENTION_DAYS_ARCHIVES = 90
    with time_machine.travel(START, tick=False):
        unlabelled = services.prediction_create(features, channel="form", consent=True)
        labelled = services.prediction_create(dict(features, Age=30), channel="api")
        services.feedback_create(prediction_id=labelled.pk, actual=False)
        html = settings.REPORTS_DIR / "data_drift" / "old.html"
        html.parent.mkdir(parents=True)
        html.write_text("<html>rows</html>")
        report = MonitoringReport.objects.create(
            kind="data_drift",
            status="ok",
            window_start=START - timedelta(days=1),
            window_end=START,
            summary={"drift_share": 0.1},
            html_path="data_drift/old.html",
        )
    stamp = START.timestamp()
    files = []
    for directory, name in (
        (settings.ARCHIVE_DIR, "a.csv"),
        (settings.EXPORTS_DIR, "prod_data.csv"),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text("prediction_id\nx\n")
        os.utime(path, (stamp, stamp))
        files.append(path)
    return unlabelled, labelled, report, files


def _answers_kept(prediction) -> bool:
    return Prediction.objects.filter(pk=prediction.pk, age__isnull=False).exists()


def test_it_keeps_everything_inside_the_retention_days(history):
    unlabelled, labelled, report, files = history
    with time_machine.travel(START + timedelta(days=89), tick=False):
        run = retention_run()
    assert _answers_kept(unlabelled) and _answers_kept(labelled)
    assert all(path.exists() for path in files)
    report.refresh_from_db()
    assert report.html_path == "data_drift/old.html"
    assert run.actions["answers_removed"] == 0 and run.actions["archives_deleted"] == 0


def test_it_removes_what_expired_and_keeps_the_counts(
    history, settings, django_capture_on_commit_callbacks
):
    unlabelled, labelled, report, files = history
    with time_machine.travel(START + timedelta(days=91), tick=False):
        retention_run()
    assert not any(path.exists() for path in files)  # archives and exports: 90 days

    # The report files go once the run's transaction commits.
    with (
        time_machine.travel(START + timedelta(days=366), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = retention_run()
    assert not _answers_kept(unlabelled) and _answers_kept(labelled)
    stripped = Prediction.objects.get(pk=unlabelled.pk)
    assert stripped.probability == unlabelled.probability and stripped.warnings == []
    report.refresh_from_db()
    assert report.html_path == "" and report.summary == {"drift_share": 0.1}
    assert not (settings.REPORTS_DIR / "data_drift" / "old.html").exists()
    assert run.actions["answers_removed"] == 1 and run.actions["report_files_deleted"] == 1

    with time_machine.travel(START + timedelta(days=731), tick=False):
        run = retention_run()
    assert not _answers_kept(labelled) and not Feedback.objects.exists()
    assert run.actions["labelled_removed"] == 1 and run.actions["feedback_deleted"] == 1
    assert Prediction.objects.count() == 2  # the per-day counts stay
    assert selectors.production_frame().empty and selectors.feedback_counts() == (0, 0)


def test_it_counts_without_removing_on_a_dry_run(history):
    unlabelled, labelled, _report, files = history
    with time_machine.travel(START + timedelta(days=800), tick=False):
        call_command("privacy_retention", dry_run=True, verbosity=0)
    run = RetentionRun.objects.get()
    assert run.dry_run and run.actions["answers_removed"] == 1
    assert run.actions["labelled_removed"] == 1 and run.actions["archives_deleted"] == 1
    assert _answers_kept(unlabelled) and _answers_kept(labelled)
    assert all(path.exists() for path in files)


def test_it_records_a_failed_run(history, monkeypatch):
    from privacy import retention

    def broken(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(retention, "_expire_files", broken)
    with pytest.raises(OSError, match="disk gone"):
        retention_run()
    run = RetentionRun.objects.get()
    assert run.status == "failed" and "disk gone" in run.error and run.finished_at


def test_it_runs_daily_from_the_beat_schedule(history, beat_rows):
    entry = PeriodicTask.objects.get(name="privacy: retention")
    assert entry.task == "privacy.tasks.retention" and entry.enabled
    assert (entry.crontab.minute, entry.crontab.hour) == ("15", "3")
    with time_machine.travel(START + timedelta(days=400), tick=False):
        run_id = tasks.retention()
    assert RetentionRun.objects.get(pk=run_id).actions["answers_removed"] == 1
