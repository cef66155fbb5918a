"""`manage.py retrain [--force] [--dry-run]`, the schedule, the task and the CPU priority."""

import io
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from mindpulse import beat
from predictions.models import Feedback
from training import services, tasks
from training.models import ModelVersion, RetrainRun
from training.task_names import RETRAIN, RETRAIN_ENTRY

from .conftest import add_labelled

pytestmark = pytest.mark.django_db


def _call(*args):
    out = io.StringIO()
    call_command("retrain", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_evaluation_on_a_dry_run_and_records_nothing(settings, active_model):
    settings.RETRAIN_THRESHOLD = 30
    add_labelled(30, seed=41, outcome="right")
    output = _call("--dry-run")
    assert "data 30 >= 30: fired" in output
    assert "drift — > 0.2: not fired" in output and "no data_drift report yet" in output
    assert "would retrain (fired: data)" in output and "nothing recorded" in output
    assert not RetrainRun.objects.exists()
    assert not Feedback.objects.filter(consumed_by__isnull=False).exists()


def test_it_records_a_skip_without_force(active_model):
    output = _call()
    run = RetrainRun.objects.get()
    assert run.decision == "skipped_no_trigger" and run.trigger == "manual"
    assert f"Decision: skipped_no_trigger (run #{run.pk})" in output


def test_it_retrains_with_force(active_model, reference_data):
    versions = ModelVersion.objects.count()
    output = _call("--force")
    run = RetrainRun.objects.get()
    assert run.decision in ("promoted", "rejected")
    assert f"Decision: {run.decision} (run #{run.pk})" in output
    assert "manual True == True: fired" in output
    assert "3000 reference + 0 production" in output and "in service" in output
    assert ModelVersion.objects.count() == versions + 1


def test_it_exits_with_an_error_when_the_run_fails(active_model, reference_data, monkeypatch):
    monkeypatch.setattr(services, "model_train", lambda *a, **k: 1 / 0)
    with pytest.raises(CommandError, match="failed during train: ZeroDivisionError"):
        call_command("retrain", "--force", verbosity=0)
    assert RetrainRun.objects.get().decision == "failed"


def test_it_prints_nothing_at_verbosity_zero(active_model):
    out = io.StringIO()
    call_command("retrain", "--dry-run", verbosity=0, stdout=out)
    assert out.getvalue() == ""


def test_it_creates_the_daily_schedule_when_beat_starts(settings, beat_rows):
    task = beat_rows[RETRAIN_ENTRY]
    assert task.task == "training.tasks.retrain" and task.enabled
    assert json.loads(task.kwargs) == {"trigger": "scheduled"}
    crontab = task.crontab
    fields = {k: getattr(crontab, k) for k in settings.RETRAIN_SCHEDULE}
    assert fields == settings.RETRAIN_SCHEDULE


def test_it_sets_an_admin_edit_back_at_beat_start_but_keeps_it_disabled(settings, beat_rows):
    task = beat_rows[RETRAIN_ENTRY]
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="3")
    task.enabled = False
    task.save()
    beat.rows_write()  # what beat does when it starts
    task.refresh_from_db()
    fields = {k: getattr(task.crontab, k) for k in settings.RETRAIN_SCHEDULE}
    assert fields == settings.RETRAIN_SCHEDULE and task.enabled is False


def test_it_recreates_a_deleted_schedule_from_the_settings(settings, beat_rows):
    PeriodicTask.objects.filter(name=RETRAIN_ENTRY).delete()
    cron = {
        "minute": "15",
        "hour": "2",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "1-5",
    }
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        RETRAIN_ENTRY: beat.entry(
            RETRAIN, cron, tz=settings.CELERY_TIMEZONE, kwargs={"trigger": "scheduled"}
        ),
    }
    beat.rows_write()
    crontab = PeriodicTask.objects.get(name=RETRAIN_ENTRY).crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("15", "2", "1-5")


def test_it_declares_the_task_for_lost_workers():
    assert tasks.retrain.name == "training.tasks.retrain"
    assert tasks.retrain.acks_late and tasks.retrain.reject_on_worker_lost


def test_it_runs_the_feedback_trigger_through_the_task(settings, active_model, reference_data):
    settings.RETRAIN_THRESHOLD = 30
    add_labelled(30, seed=42)
    result = tasks.retrain.apply(kwargs={"trigger": "feedback"}, task_id="t-1").get()
    run = RetrainRun.objects.get(pk=result["run_id"])
    assert run.trigger == "feedback" and run.task_id == "t-1"
    assert result["decision"] == run.decision and run.decision in ("promoted", "rejected")
    assert run.triggers["data"]["fired"] and not run.triggers["manual"]["fired"]


def test_it_forces_the_manual_trigger_through_the_task(active_model, reference_data, admin_user):
    result = tasks.retrain.apply(
        kwargs={"trigger": "manual", "requested_by_id": admin_user.pk}
    ).get()
    run = RetrainRun.objects.get(pk=result["run_id"])
    assert run.triggers["manual"]["fired"] and run.requested_by == admin_user


def test_it_lowers_the_priority_of_every_thread():
    code = """
import os, threading
from training.priority import lower_cpu_priority
ready, done = threading.Event(), threading.Event()
tid = []
def idle():
    tid.append(threading.get_native_id()); ready.set(); done.wait()
t = threading.Thread(target=idle); t.start(); ready.wait()
before = os.getpriority(os.PRIO_PROCESS, tid[0])
now = lower_cpu_priority(before + 5)
late = []
t2 = threading.Thread(target=lambda: late.append(os.getpriority(os.PRIO_PROCESS, 0))); t2.start()
t2.join()
print(before, now, os.getpriority(os.PRIO_PROCESS, tid[0]), late[0])
done.set(); t.join()
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    before, now, other_thread, new_thread = map(int, result.stdout.split())
    assert now == other_thread == new_thread == before + 5
