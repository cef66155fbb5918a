"""Runs under duplicate starts and database outages.

- Two beat processes (or two "run now" clicks) start the reports at the same moment: one run,
  the other recorded as skipped (the database's one-`running`-row constraint decides). The
  same for retrains: training/tests/test_retrain_concurrency.py::
  test_it_runs_one_retrain_for_two_concurrent_requests.
- A task that meets a database outage is retried with exponential backoff instead of failing.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import InterfaceError, OperationalError, connection

from mindpulse.errors import DATABASE_RETRY
from monitoring import services as monitoring_services
from monitoring import tasks as monitoring_tasks
from monitoring.models import MonitoringReport, MonitoringRun
from training import tasks as training_tasks

pytestmark = pytest.mark.faults


@pytest.mark.django_db(transaction=True)
def test_it_runs_the_reports_once_for_two_simultaneous_starts(active_model, monkeypatch):
    real_run = monitoring_services._run

    def run_until_the_other_is_turned_away(run):
        # Hold the slot until the second start has been recorded as skipped.
        deadline = time.monotonic() + 30
        while not MonitoringRun.objects.filter(status="skipped").exists():
            assert time.monotonic() < deadline, "the second start was never recorded"
            time.sleep(0.05)
        return real_run(run)

    monkeypatch.setattr(monitoring_services, "_run", run_until_the_other_is_turned_away)
    start = threading.Barrier(2)
    results, errors = [], []

    def beat_tick():
        try:
            start.wait(timeout=10)
            results.append(monitoring_tasks.run_reports.apply(kwargs={"trigger": "scheduled"}))
        except Exception as exc:  # re-raised below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat_tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert all(result.successful() for result in results), [r.traceback for r in results]
    runs = list(MonitoringRun.objects.all())
    assert len(runs) == 2
    (loser,) = [r for r in runs if r.reason.startswith("Another monitoring run is in progress")]
    (winner,) = [r for r in runs if r is not loser]
    assert loser.status == "skipped" and f"run #{winner.pk}" in loser.reason
    # The winner ran its three reports (skipped here: no production data in the window).
    assert winner.status != "running" and winner.reports.count() == 3
    assert MonitoringReport.objects.filter(run=loser).count() == 0


TASKS = [
    (monitoring_tasks.run_reports, monitoring_tasks.services, "reports_run", {"trigger": "x"}),
    (training_tasks.retrain, training_tasks, "model_retrain", {"trigger": "scheduled"}),
]


@pytest.mark.parametrize(("task", "module", "name", "kwargs"), TASKS, ids=lambda v: str(v)[:30])
@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_it_retries_a_task_while_the_database_is_down(
    db, monkeypatch, task, module, name, kwargs, error
):
    calls = []
    countdowns = []

    def down_twice(**received):
        calls.append(received)
        if len(calls) <= 2:
            raise error("server closed the connection unexpectedly")
        return _Done()

    real_retry = task.retry

    def recording_retry(*args, **options):
        countdowns.append(options.get("countdown"))
        return real_retry(*args, **options)

    monkeypatch.setattr(module, name, down_twice)
    monkeypatch.setattr(task, "retry", recording_retry)
    result = task.apply(kwargs=kwargs)  # eager: the retries run at once, countdowns ignored

    assert result.successful(), result.traceback
    assert len(calls) == 3
    # Exponential backoff with full jitter: the n-th retry waits up to 5 * 2**n seconds.
    assert len(countdowns) == 2
    assert 0 <= countdowns[0] <= 5 and 0 <= countdowns[1] <= 10


def test_it_gives_the_tasks_a_bounded_backoff_on_database_errors():
    for task in (monitoring_tasks.run_reports, training_tasks.retrain):
        assert set(task.autoretry_for) == {OperationalError, InterfaceError}
        assert (task.retry_backoff, task.retry_backoff_max, task.retry_jitter) == (5, 300, True)
        assert task.max_retries == DATABASE_RETRY["max_retries"] == 5


class _Done:
    """What the patched service returns: enough for the tasks' return values."""

    pk = 1
    status = decision = "ok"
    reason = ""

    class reports:
        @staticmethod
        def all():
            return []
