"""Tests of the schedule and the Celery task, including one run on a real worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.urls import reverse
from django_celery_beat import schedulers
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from mindpulse.celery import app as celery_app
from monitoring import task_names, tasks
from monitoring.models import MonitoringReport, MonitoringRun

from .conftest import shift, students

Kind = MonitoringReport.Kind


def _beat_start(monkeypatch):
    # Beat closes "old" connections, which would close the test's transaction under it.
    monkeypatch.setattr(schedulers, "close_old_connections", lambda: None)
    return schedulers.DatabaseScheduler(app=celery_app)


@pytest.mark.django_db
def test_it_has_the_schedule_after_beat_starts(settings, monkeypatch):
    _beat_start(monkeypatch)
    task = PeriodicTask.objects.get(name=task_names.REPORTS_ENTRY)

    assert task.task == "monitoring.tasks.run_reports"
    assert task.enabled
    assert json.loads(task.kwargs or "{}") == {}
    crontab = task.crontab
    assert (
        {
            "minute": crontab.minute,
            "hour": crontab.hour,
            "day_of_month": crontab.day_of_month,
            "month_of_year": crontab.month_of_year,
            "day_of_week": crontab.day_of_week,
        }
        == settings.REPORTS_SCHEDULE
        == {
            "minute": "0",
            "hour": "*/6",
            "day_of_month": "*",
            "month_of_year": "*",
            "day_of_week": "*",
        }
    )
    assert str(crontab.timezone) == settings.CELERY_TIMEZONE


@pytest.mark.django_db
def test_it_writes_the_schedule_once_and_sets_an_admin_edit_back_at_the_next_beat_start(
    monkeypatch, beat_rows
):
    task = beat_rows[task_names.REPORTS_ENTRY]
    code = task.crontab
    edited = CrontabSchedule.objects.create(minute="30", hour="*/2")
    task.crontab = edited
    task.save()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert PeriodicTask.objects.get(name=task_names.REPORTS_ENTRY).crontab == edited  # live
    _beat_start(monkeypatch)

    assert PeriodicTask.objects.filter(name=task_names.REPORTS_ENTRY).count() == 1
    assert PeriodicTask.objects.get(name=task_names.REPORTS_ENTRY).crontab == code


@pytest.mark.django_db
def test_it_recreates_a_deleted_schedule_at_the_next_beat_start(monkeypatch, beat_rows):
    PeriodicTask.objects.filter(name=task_names.REPORTS_ENTRY).delete()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert not PeriodicTask.objects.filter(name=task_names.REPORTS_ENTRY).exists()
    _beat_start(monkeypatch)

    assert PeriodicTask.objects.filter(name=task_names.REPORTS_ENTRY).exists()


@pytest.mark.django_db
def test_it_is_scheduled_by_the_database_scheduler(monkeypatch):
    scheduler = _beat_start(monkeypatch)

    entry = scheduler.schedule[task_names.REPORTS_ENTRY]

    assert entry.task == "monitoring.tasks.run_reports"
    assert entry.schedule.hour == {0, 6, 12, 18}
    assert entry.schedule.minute == {0}


def test_it_is_a_thin_task_with_the_configured_limits(settings):
    assert tasks.run_reports.name == "monitoring.tasks.run_reports"
    assert tasks.run_reports.acks_late is True
    # The app's configuration (CELERY_TASK_*_TIME_LIMIT) gives the task its limits.
    assert tasks.run_reports.time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert tasks.run_reports.soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT
    assert tasks.run_reports.soft_time_limit < tasks.run_reports.time_limit


@pytest.fixture
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.mark.django_db
def test_it_runs_now_from_the_periodic_task_admin(
    admin_client, active_model, eager_celery, beat_rows
):
    task = beat_rows[task_names.REPORTS_ENTRY]

    response = admin_client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "run_tasks", "_selected_action": [task.pk]},
        follow=True,
    )

    assert "1 task was successfully run" in response.content.decode()
    run = MonitoringRun.objects.get()
    assert run.trigger == "scheduled"
    assert run.task_id  # the Celery task id, passed by the wrapper
    assert run.reports.count() == 3


@pytest.mark.worker
def test_it_runs_the_reports_on_a_real_worker(celery_worker_process, make_predictions, settings):
    make_predictions(shift(students(600, seed=31)), labelled=200)

    result = tasks.run_reports.delay()

    run = celery_worker_process.wait_for(
        lambda: (
            MonitoringRun.objects.filter(task_id=result.id)
            .exclude(status=MonitoringRun.Status.RUNNING)
            .first()
        ),
        timeout=120,
    )
    assert run.status == MonitoringRun.Status.OK, run.error
    assert run.trigger == "scheduled"
    reports = {r.kind: r for r in run.reports.all()}
    assert {k: r.status for k, r in reports.items()} == dict.fromkeys(Kind.values, "ok")
    assert {"Sleep_Duration", "Stress_Level"} <= set(
        reports[Kind.DATA_DRIFT].summary["drifted_features"]
    )
    assert reports[Kind.MODEL_PERFORMANCE].current_rows == 200
    for report in reports.values():
        html = Path(settings.REPORTS_DIR) / report.html_path
        assert html.is_file() and html.stat().st_size > 10_000
    # django-celery-results keeps the outcome for the admin.
    outcome = celery_worker_process.wait_for(
        lambda: TaskResult.objects.filter(task_id=result.id, status="SUCCESS").first(), timeout=30
    )
    assert json.loads(outcome.result)["run"] == run.pk
