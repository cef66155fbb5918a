"""Beat's schedule, in code: the entries of CELERY_BEAT_SCHEDULE (mindpulse/settings/main.py).

Each entry names its task by its constant (`<app>/task_names.py`), runs on a crontab read from
the environment (REPORTS_SCHEDULE, RETRAIN_SCHEDULE, ALERT_CHECK_SCHEDULE, RETENTION_SCHEDULE)
and gives its messages an expiry just under the crontab's period (mindpulse.queues).

django-celery-beat's DatabaseScheduler writes these entries into its PeriodicTask rows every
time beat starts (`setup_schedule` -> `update_from_dict`, matched by entry name): an edit made
in the admin to a crontab, arguments or expiry lasts until the next beat start; only
"enabled" is not written, so an entry staff disabled stays disabled. No `migrate` creates
these rows any more.

Imported by the settings: nothing here may import Django models at import time.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django_celery_beat.tzcrontab import TzAwareCrontab

from .queues import expire_seconds


def entry(task: str, cron: dict[str, str], *, tz: str, kwargs: dict | None = None) -> dict:
    """One CELERY_BEAT_SCHEDULE entry: `task` on the crontab `cron` (an `env_cron` dict).

    The expiry goes into the options as `expire_seconds`: that is the key DatabaseScheduler
    stores (its `_unpack_options` drops an `expires` key); the row then sends each message
    with `expires=` that many seconds. Computed once, when the settings are read.

    A crontab with its own time zone (TzAwareCrontab, as django-celery-beat's rows build
    them): the settings are read before the Celery app is configured, so the crontab must not
    ask the app for its time zone or clock.
    """
    zone = ZoneInfo(tz)
    schedule = TzAwareCrontab(**cron, tz=zone)
    return {
        "task": task,
        "schedule": schedule,
        "kwargs": dict(kwargs or {}),
        "options": {"expire_seconds": expire_seconds(schedule, datetime.now(zone))},
    }


def rows_write(schedule: dict | None = None) -> dict:
    """Write `schedule` (default: CELERY_BEAT_SCHEDULE) into the PeriodicTask rows, as beat
    does when it starts, and return {entry name: PeriodicTask}.

    The same call as DatabaseScheduler.update_from_dict makes per entry (ModelEntry.from_entry),
    for the loop simulator and the tests, which run the schedule without a beat process.
    """
    from django.conf import settings
    from django_celery_beat.schedulers import ModelEntry

    from .celery import app

    schedule = settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule
    return {
        name: ModelEntry.from_entry(name, app=app, **fields).model
        for name, fields in schedule.items()
    }
