"""One schedule, in code: CELERY_BEAT_SCHEDULE, written into beat's rows when beat starts."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat import schedulers
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from conftest import BASE_DIR, WorkerHandle, _database_url
from mindpulse.celery import app as celery_app
from mindpulse.management.commands.serve import process_commands
from monitoring import task_names as monitoring_tasks
from privacy import task_names as privacy_tasks
from training import task_names as training_tasks

# (entry name, task name, the setting of its crontab, the kwargs each message carries)
ENTRIES = [
    (monitoring_tasks.REPORTS_ENTRY, monitoring_tasks.RUN_REPORTS, "REPORTS_SCHEDULE", {}),
    (
        training_tasks.RETRAIN_ENTRY,
        training_tasks.RETRAIN,
        "RETRAIN_SCHEDULE",
        {"trigger": "scheduled"},
    ),
    (
        monitoring_tasks.CHECK_ALERTS_ENTRY,
        monitoring_tasks.CHECK_ALERTS,
        "ALERT_CHECK_SCHEDULE",
        {},
    ),
    (privacy_tasks.RETENTION_ENTRY, privacy_tasks.RETENTION, "RETENTION_SCHEDULE", {}),
]
ENTRY_IDS = [setting for _, _, setting, _ in ENTRIES]
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def shortest_gap(schedule, start: datetime) -> float:
    """Seconds between the two closest ticks of `schedule` over 15 days, found minute by minute
    (not through Celery's remaining_delta, which the code under test uses)."""
    start = start.astimezone(schedule.tz).replace(second=0, microsecond=0)
    ticks = []
    for minute in range(15 * 24 * 60):
        at = start + timedelta(minutes=minute)
        if (
            at.minute in schedule.minute
            and at.hour in schedule.hour
            and at.isoweekday() % 7 in schedule.day_of_week
            and at.day in schedule.day_of_month
            and at.month in schedule.month_of_year
        ):
            ticks.append(at)
    return min((b - a).total_seconds() for a, b in itertools.pairwise(ticks))


def assert_expiry_under_period(seconds: int, schedule) -> None:
    gap = shortest_gap(schedule, datetime.now(UTC))
    assert 0.9 * gap <= seconds < gap, (seconds, gap)


def same_ticks(schedule, cron: dict[str, str]) -> bool:
    expected = crontab(**cron)
    return all(getattr(schedule, f) == getattr(expected, f) for f in CRON_FIELDS)


@pytest.mark.parametrize(("name", "task", "setting", "kwargs"), ENTRIES, ids=ENTRY_IDS)
def test_it_schedules_each_task_on_its_crontab_expiring_under_its_period(
    settings, name, task, setting, kwargs
):
    entry = settings.CELERY_BEAT_SCHEDULE[name]

    assert entry["task"] == task
    celery_app.loader.import_default_modules()
    assert celery_app.tasks[task].name == task  # a registered task of that very name
    assert same_ticks(entry["schedule"], getattr(settings, setting))
    assert entry["schedule"].tz == ZoneInfo(settings.CELERY_TIMEZONE)
    assert entry["kwargs"] == kwargs
    assert_expiry_under_period(entry["options"]["expire_seconds"], entry["schedule"])


def test_it_has_no_other_entries(settings):
    assert set(settings.CELERY_BEAT_SCHEDULE) == {name for name, *_ in ENTRIES}


def test_it_reads_each_crontab_from_the_environment():
    crons = {
        "REPORTS_SCHEDULE": "*/20 * * * *",
        "RETRAIN_SCHEDULE": "15 2 * * 1-5",
        "ALERT_CHECK_SCHEDULE": "*/10 * * * *",
        "RETENTION_SCHEDULE": "45 4 * * 0",
    }
    # Reading the settings module is enough: beat reads CELERY_BEAT_SCHEDULE from it.
    script = (
        "import json; from django.conf import settings; print(json.dumps({n: {"
        "'task': e['task'], 'expire_seconds': e['options']['expire_seconds'], "
        f"**{{f: sorted(getattr(e['schedule'], f)) for f in {CRON_FIELDS!r}}}}}"
        " for n, e in settings.CELERY_BEAT_SCHEDULE.items()}))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test", **crons}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, check=True
    )
    read = json.loads(out.stdout.decode().strip().splitlines()[-1])

    for name, task, setting, _ in ENTRIES:
        expected = crontab(**dict(zip(CRON_FIELDS, crons[setting].split(), strict=True)))
        assert read[name]["task"] == task
        assert {f: read[name][f] for f in CRON_FIELDS} == {
            f: sorted(getattr(expected, f)) for f in CRON_FIELDS
        }, setting
        expected.tz = ZoneInfo(django_settings.CELERY_TIMEZONE)
        assert_expiry_under_period(read[name]["expire_seconds"], expected)


def _beat_start(monkeypatch):
    """What `celery beat` does when it starts with MindPulse's scheduler (DatabaseScheduler)."""
    # Beat closes "old" connections, which would close the test's transaction under it.
    monkeypatch.setattr(schedulers, "close_old_connections", lambda: None)
    return schedulers.DatabaseScheduler(app=celery_app)


@pytest.mark.django_db
def test_a_beat_start_writes_every_entry_with_its_expiry(settings, monkeypatch):
    assert not PeriodicTask.objects.filter(name__in=settings.CELERY_BEAT_SCHEDULE).exists()

    scheduler = _beat_start(monkeypatch)

    for name, task, setting, kwargs in ENTRIES:
        row = PeriodicTask.objects.select_related("crontab").get(name=name)
        code = settings.CELERY_BEAT_SCHEDULE[name]
        assert row.task == task and row.enabled
        assert {f: getattr(row.crontab, f) for f in CRON_FIELDS} == getattr(settings, setting)
        assert str(row.crontab.timezone) == settings.CELERY_TIMEZONE
        assert json.loads(row.kwargs) == kwargs
        assert row.expire_seconds == code["options"]["expire_seconds"]
        assert row.expires is None
        # ... and each message beat sends carries it as its `expires`.
        assert scheduler.schedule[name].options["expires"] == row.expire_seconds


@pytest.mark.django_db
def test_a_beat_start_overwrites_an_admin_edit_but_keeps_a_disabled_entry_disabled(
    settings, monkeypatch, beat_rows
):
    retrain = beat_rows[training_tasks.RETRAIN_ENTRY]
    retrain.crontab = CrontabSchedule.objects.create(minute="30", hour="3")
    retrain.kwargs = json.dumps({"trigger": "manual"})
    retrain.expire_seconds = 60
    retrain.save()
    reports = beat_rows[monitoring_tasks.REPORTS_ENTRY]
    reports.enabled = False
    reports.save()

    scheduler = _beat_start(monkeypatch)

    retrain.refresh_from_db()
    assert {f: getattr(retrain.crontab, f) for f in CRON_FIELDS} == settings.RETRAIN_SCHEDULE
    assert json.loads(retrain.kwargs) == {"trigger": "scheduled"}
    code = settings.CELERY_BEAT_SCHEDULE[training_tasks.RETRAIN_ENTRY]
    assert retrain.expire_seconds == code["options"]["expire_seconds"]
    reports.refresh_from_db()
    assert reports.enabled is False
    assert monitoring_tasks.REPORTS_ENTRY not in scheduler.schedule
    assert training_tasks.RETRAIN_ENTRY in scheduler.schedule


@pytest.mark.django_db
def test_a_migrate_creates_no_periodic_task():
    PeriodicTask.objects.all().delete()

    call_command("migrate", verbosity=0)  # post_migrate is sent to every app

    assert not PeriodicTask.objects.exists()


@pytest.mark.django_db
def test_the_admin_says_which_entries_are_set_in_code(admin_client, beat_rows):
    crontab_row = CrontabSchedule.objects.create(minute="0", hour="1")
    own = PeriodicTask.objects.create(name="staff: one-off", task="x.y", crontab=crontab_row)
    note = "lasts only until beat restarts"

    page = admin_client.get(
        reverse(
            "admin:django_celery_beat_periodictask_change",
            args=[beat_rows[training_tasks.RETRAIN_ENTRY].pk],
        )
    )
    assert page.status_code == 200 and note in page.content.decode()
    page = admin_client.get(reverse("admin:django_celery_beat_periodictask_change", args=[own.pk]))
    assert page.status_code == 200 and note not in page.content.decode()
    listing = admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert "set in code" in listing.content.decode().lower()


@pytest.mark.worker
def test_make_runs_beat_writes_the_schedule_when_it_starts(celery_queues, settings, tmp_path):
    """The beat process `make run` starts (manage.py serve), on the test database."""
    command = process_commands(
        bin_dir=os.path.dirname(sys.executable),
        host="127.0.0.1",
        port=18800,
        beat_schedule=str(tmp_path / "celerybeat-schedule"),
    )["beat"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_DEFAULT_QUEUE": celery_queues["default"],
        "CELERY_TRAINING_QUEUE": celery_queues["training"],
        "CELERY_MONITORING_QUEUE": celery_queues["monitoring"],
        "SECRET_KEY": settings.SECRET_KEY,
    }
    log = tmp_path / "beat.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    beat = WorkerHandle(process, log)
    try:
        beat.wait_for(
            lambda: (
                PeriodicTask.objects.filter(name__in=settings.CELERY_BEAT_SCHEDULE).count()
                == len(ENTRIES)
            ),
            timeout=90,
        )
    finally:
        beat.stop()
    for name, *_ in ENTRIES:
        row = PeriodicTask.objects.get(name=name)
        assert (
            row.expire_seconds == settings.CELERY_BEAT_SCHEDULE[name]["options"]["expire_seconds"]
        )
