"""A real Celery worker on the configured broker runs the retrain, and is killed mid-training."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from predictions.models import Feedback
from training import artifacts, retrain
from training.models import ModelVersion, RetrainRun

from .conftest import add_labelled

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_worker(monkeypatch, request):
    """A worker whose retrain sleeps after its first candidate (RETRAIN_TEST_PAUSE_SECONDS, a
    test-only hook), so that the test can kill it in the middle of training."""
    monkeypatch.setenv("RETRAIN_TEST_PAUSE_SECONDS", "120")
    return request.getfixturevalue("celery_worker_process")


def _run(pk):
    return RetrainRun.objects.get(pk=pk)


def test_it_retrains_through_the_queue(celery_worker_process, active_model, reference_data):
    add_labelled(80, seed=51)
    queued = retrain.retrain_request(note="end to end")
    run = celery_worker_process.wait_for(
        lambda: (r := _run(queued.pk)).decision in ("promoted", "rejected", "failed") and r,
        timeout=120,
    )
    assert run.decision in ("promoted", "rejected"), run.error
    assert run.task_id == queued.task_id and run.rows_production == 80
    assert Feedback.objects.filter(consumed_by=run).count() == 80
    assert run.new_version is not None and run.archive_path


def test_it_keeps_the_model_when_the_worker_is_killed(
    slow_worker, active_model, reference_data, settings
):
    add_labelled(60, seed=52)
    path = settings.ARTIFACTS_DIR / active_model.artifact_path
    sha = artifacts.sha256_file(path)
    files = sorted(settings.ARTIFACTS_DIR.iterdir())
    queued = retrain.retrain_request(note="kill me")
    # "merge" is recorded just before training starts; the worker then sleeps in training.
    slow_worker.wait_for(lambda: "merge" in (_run(queued.pk).step_seconds or {}), timeout=120)
    slow_worker.wait_for(lambda: "retrain_candidate" in slow_worker.output(), timeout=60)
    slow_worker.kill()

    run = _run(queued.pk)
    assert run.decision == "running" and run.new_version is None
    assert Feedback.objects.filter(consumed_by=run).count() == 60
    active_model.refresh_from_db()
    assert active_model.status == "active" and ModelVersion.objects.count() == 1
    assert artifacts.sha256_file(path) == sha
    assert sorted(settings.ARTIFACTS_DIR.iterdir()) == files  # no partial or new file

    # Recovery: the next run, after the hard time limit, fails the lost run and frees its rows.
    later = timezone.now() + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    with time_machine.travel(later):
        assert retrain.recover_stale_runs() == [run.pk]
    run.refresh_from_db()
    assert run.decision == "failed" and "worker was lost" in run.reason
    assert Feedback.objects.filter(consumed_by__isnull=True).count() == 60
    assert ModelVersion.objects.get(status="active").pk == active_model.pk

    following = retrain.model_retrain(trigger="manual", force=True)
    assert following.decision in ("promoted", "rejected") and following.rows_production == 60
