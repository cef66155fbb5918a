"""Which Celery queue each kind of work goes to, and how long a periodic message stays useful.

Three queues, so that a 30-minute retrain never delays a report or an alert behind it:

- training   (CELERY_TRAINING_QUEUE): retrains, consumed by a worker of concurrency 1, so
  that retrains run one at a time;
- monitoring (CELERY_MONITORING_QUEUE): the Evidently reports;
- default    (CELERY_TASK_DEFAULT_QUEUE): alerts, deliveries and every other light task.

`make run` starts one worker on all three; docker-compose runs `worker-training` on the
training queue and `worker` on the two others. The router reads the settings when a task is
sent (not at import time), so the tests can give each worker queues of its own.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from monitoring import task_names as monitoring_tasks
from training import task_names as training_tasks

TRAINING_TASKS = frozenset({training_tasks.RETRAIN})
MONITORING_TASKS = frozenset({monitoring_tasks.RUN_REPORTS})
# A periodic message expires this long before the next tick would send the same one, so that a
# backlog behind a stopped worker is dropped instead of running the same work several times
# (mindpulse.beat gives every entry of CELERY_BEAT_SCHEDULE its expiry).
EXPIRY_MARGIN = 0.05


def queue_names() -> dict[str, str]:
    """{"training": ..., "monitoring": ..., "default": ...} as configured."""
    from django.conf import settings

    return {
        "training": settings.CELERY_TRAINING_QUEUE,
        "monitoring": settings.CELERY_MONITORING_QUEUE,
        "default": settings.CELERY_TASK_DEFAULT_QUEUE,
    }


def route(name, args=None, kwargs=None, options=None, task=None, **kw) -> dict:
    """Celery router (CELERY_TASK_ROUTES): the queue of the task called `name`."""
    queues = queue_names()
    if name in TRAINING_TASKS:
        return {"queue": queues["training"]}
    if name in MONITORING_TASKS:
        return {"queue": queues["monitoring"]}
    return {"queue": queues["default"]}


def expire_seconds(crontab_schedule, now: datetime) -> int:
    """Just under the shortest gap between two ticks of `crontab_schedule` over the next week.

    A message older than that is superseded by the next tick anyway.
    """
    times = [now]
    while len(times) < 2000 and times[-1] - now < timedelta(days=8):
        last, delta, _ = crontab_schedule.remaining_delta(times[-1])
        times.append(last + delta)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times[1:])]
    shortest = min(g for g in gaps if g > 0) if gaps else 3600
    return max(1, int(shortest * (1 - EXPIRY_MARGIN)))
