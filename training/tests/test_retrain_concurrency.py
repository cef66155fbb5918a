"""Concurrency, on the real database: other connections act while a retrain runs."""

import threading
import time

import pytest
from django.db import connection

from predictions import services as prediction_services
from predictions.models import Feedback
from training import retrain, services
from training.models import RetrainRun

from .conftest import add_labelled, add_predictions

pytestmark = pytest.mark.django_db(transaction=True)

MANUAL = RetrainRun.Trigger.MANUAL


def _in_thread(target, *args):
    """Run target in another thread with its own database connection; return its result."""
    box = {}

    def run():
        try:
            box["result"] = target(*args)
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def test_it_neither_loses_nor_reuses_feedback_posted_during_a_run(
    active_model, reference_data, monkeypatch
):
    add_labelled(60, seed=31)
    late, truths = add_predictions(25, seed=32)  # their feedback arrives mid-run
    train = services.model_train

    def train_while_feedback_arrives(*args, **kwargs):
        def post_feedback():
            for prediction, actual in zip(late, truths, strict=True):
                prediction_services.feedback_create(prediction_id=prediction.pk, actual=actual)

        thread, box = _in_thread(post_feedback)
        thread.join()
        assert "error" not in box, box.get("error")
        return train(*args, **kwargs)

    monkeypatch.setattr(services, "model_train", train_while_feedback_arrives)
    first = retrain.model_retrain(trigger=MANUAL, force=True)
    assert first.decision in ("promoted", "rejected") and first.rows_production == 60
    assert Feedback.objects.count() == 85
    assert Feedback.objects.filter(consumed_by=first).count() == 60
    late_ids = {p.pk for p in late}
    unconsumed = Feedback.objects.filter(consumed_by__isnull=True)
    assert {f.prediction_id for f in unconsumed} == late_ids

    monkeypatch.setattr(services, "model_train", train)
    second = retrain.model_retrain(trigger=MANUAL, force=True)
    assert second.rows_production == 25
    consumed = Feedback.objects.filter(consumed_by=second)
    assert {f.prediction_id for f in consumed} == late_ids
    assert not Feedback.objects.filter(consumed_by__isnull=True).exists()


def test_it_runs_one_retrain_for_two_concurrent_requests(active_model, reference_data, monkeypatch):
    add_labelled(40, seed=33)
    train = services.model_train
    start = threading.Barrier(2)

    def train_until_the_other_is_recorded(*args, **kwargs):
        # Hold the running slot until the other request has been turned away.
        _wait(lambda: RetrainRun.objects.filter(decision="skipped_already_running").exists())
        return train(*args, **kwargs)

    monkeypatch.setattr(services, "model_train", train_until_the_other_is_recorded)

    def request():
        start.wait(timeout=10)
        began = time.monotonic()
        run = retrain.model_retrain(trigger=MANUAL, force=True)
        return run.decision, time.monotonic() - began

    threads = [_in_thread(request) for _ in range(2)]
    for thread, _ in threads:
        thread.join(timeout=60)
    results = []
    for _, box in threads:
        assert "error" not in box, box.get("error")
        results.append(box["result"])
    decisions = sorted(decision for decision, _ in results)
    assert decisions[1] == "skipped_already_running"
    assert decisions[0] in ("promoted", "rejected")
    skipped_seconds = next(s for d, s in results if d == "skipped_already_running")
    assert skipped_seconds < 5
    assert RetrainRun.objects.count() == 2
    assert RetrainRun.objects.filter(decision__in=["promoted", "rejected"]).count() == 1
    winner = RetrainRun.objects.get(decision__in=["promoted", "rejected"])
    assert Feedback.objects.filter(consumed_by=winner).count() == 40
