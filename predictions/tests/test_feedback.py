"""POST /api/feedback: both shapes, 201/400/404/409, the count, and the retrain trigger."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from mindpulse.celery import app
from predictions import services
from predictions.models import Feedback, Prediction
from training.models import RetrainRun


def _predict(api, features) -> str:
    return api.post("/api/predict", features).json()["prediction_id"]


@pytest.mark.django_db
def test_it_records_feedback_for_a_prediction_id(api, active_model, features):
    prediction_id = _predict(api, features)
    response = api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 1})
    assert response.status_code == 201
    assert response.json() == {"status": "ok", "total_feedbacks": 1, "retrain_triggered": False}
    feedback = Feedback.objects.get(prediction_id=prediction_id)
    assert feedback.actual is True and feedback.consumed_by is None


@pytest.mark.django_db
def test_it_counts_every_feedback(api, active_model, features):
    totals = [
        api.post("/api/feedback", {"prediction_id": _predict(api, features), "actual": a}).json()[
            "total_feedbacks"
        ]
        for a in (0, 1, 0)
    ]
    assert totals == [1, 2, 3]
    assert list(Feedback.objects.order_by("created_at").values_list("actual", flat=True)) == [
        False,
        True,
        False,
    ]


@pytest.mark.django_db
def test_it_answers_409_to_a_second_feedback(api, active_model, features):
    prediction_id = _predict(api, features)
    assert (
        api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 0}).status_code == 201
    )
    response = api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 1})
    assert response.status_code == 409
    assert "already has its feedback" in response.json()["detail"]
    assert Feedback.objects.get(prediction_id=prediction_id).actual is False


@pytest.mark.django_db
def test_it_answers_404_to_an_unknown_prediction(api, active_model):
    response = api.post("/api/feedback", {"prediction_id": str(uuid.uuid4()), "actual": 1})
    assert response.status_code == 404
    assert Feedback.objects.count() == 0


@pytest.mark.django_db
def test_it_stores_a_prediction_then_its_feedback_for_the_original_shape(
    api, active_model, features
):
    response = api.post("/api/feedback", {"features": features, "prediction": 1, "actual": 1})
    assert response.status_code == 201
    assert response.json()["total_feedbacks"] == 1
    prediction = Prediction.objects.get()
    assert prediction.channel == Prediction.Channel.API
    assert prediction.model_version_id == active_model.pk
    assert prediction.feedback.actual is True


@pytest.mark.django_db
def test_it_ignores_the_datasets_other_columns_in_the_flat_shape(api, active_model, features):
    # The schema documents Student_ID and Depression as accepted and ignored (as /predict does).
    body = {**features, "Student_ID": 17, "Depression": True, "actual": 0}
    response = api.post("/api/feedback", body)
    assert response.status_code == 201, response.json()
    assert Prediction.objects.get().feedback.actual is False


@pytest.mark.django_db
def test_it_answers_503_to_the_original_shape_without_a_model(api, db, features):
    response = api.post("/api/feedback", {"features": features, "prediction": 0, "actual": 0})
    assert response.status_code == 503
    assert Prediction.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"prediction_id", "actual"}),
        ({"prediction_id": "nope", "actual": 1}, {"prediction_id"}),
        ({"prediction_id": "00000000-0000-0000-0000-000000000000", "actual": 2}, {"actual"}),
        ({"prediction_id": "00000000-0000-0000-0000-000000000000", "actual": True}, {"actual"}),
        ({"prediction_id": "00000000-0000-0000-0000-000000000000", "actual": "1"}, {"actual"}),
        ({"prediction_id": "00000000-0000-0000-0000-000000000000", "actual": 1, "x": 1}, {"x"}),
        ({"features": {"Age": 21}, "prediction": 1, "actual": 1}, {"Gender", "CGPA"}),
        ({"features": [], "prediction": 1, "actual": 1}, {"features"}),
        ({"features": "FEATURES", "actual": 1}, {"prediction"}),
    ],
    ids=[
        "empty",
        "bad uuid",
        "actual 2",
        "actual true",
        "actual string",
        "unknown key",
        "incomplete features",
        "features not an object",
        "no prediction",
    ],
)
def test_it_refuses_invalid_feedback(api, active_model, features, body, fields):
    if body.get("features") == "FEATURES":
        body = dict(body, features=features)
    response = api.post("/api/feedback", body)
    assert response.status_code == 400
    assert fields <= set(response.json()["errors"])
    assert Feedback.objects.count() == 0 and Prediction.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_list_body(api, active_model):
    response = api.post("/api/feedback", [{"actual": 1}])
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["non_field_errors"]


# --- The retrain trigger: real commits, so transactional -----------------------------------


@pytest.fixture
def usable_at_once(settings):
    """The test client's labels count at once: the crossing is read from the usable labels
    (trusted, no client key above its share), and by default a student_link label counts a
    day after its prediction and one client may supply 2 % of a retrain's rows."""
    settings.MIN_LABEL_AGE = timedelta(0)
    settings.RETRAIN_MAX_CLIENT_SHARE = 1.0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("usable_at_once")
def test_it_queues_the_retrain_when_the_threshold_is_reached(api, active_model, features, settings):
    settings.RETRAIN_THRESHOLD = 2
    ids = [_predict(api, features) for _ in range(3)]
    with mock.patch.object(app, "send_task") as send_task:
        first = api.post("/api/feedback", {"prediction_id": ids[0], "actual": 1}).json()
        assert first["retrain_triggered"] is False
        send_task.assert_not_called()
        second = api.post("/api/feedback", {"prediction_id": ids[1], "actual": 0}).json()
    assert second == {"status": "ok", "total_feedbacks": 2, "retrain_triggered": True}
    send_task.assert_called_once()
    assert send_task.call_args.args == ("training.tasks.retrain",)
    queued = RetrainRun.objects.get()
    assert (queued.trigger, queued.decision) == ("feedback", "queued")
    assert send_task.call_args.kwargs["kwargs"] == {
        "trigger": "feedback",
        "run_id": queued.pk,
        "requested_by_id": None,
    }
    assert send_task.call_args.kwargs["task_id"] == queued.task_id


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("usable_at_once")
def test_it_queues_one_retrain_per_crossing_of_the_threshold(api, active_model, features, settings):
    settings.RETRAIN_THRESHOLD = 2
    ids = [_predict(api, features) for _ in range(6)]
    with mock.patch.object(app, "send_task") as send_task:
        answers = [api.post("/api/feedback", {"prediction_id": i, "actual": 1}).json() for i in ids]
    assert [a["retrain_triggered"] for a in answers] == [False, True, False, False, False, False]
    assert send_task.call_count == 1
    # Recorded before the message left; the queued run is the only one.
    assert list(RetrainRun.objects.values_list("trigger", "decision")) == [("feedback", "queued")]


@pytest.mark.django_db(transaction=True)
def test_it_queues_nothing_while_a_retrain_runs(api, active_model, features, settings):
    settings.RETRAIN_THRESHOLD = 1
    RetrainRun.objects.create(trigger=RetrainRun.Trigger.SCHEDULED, decision="running")
    prediction_id = _predict(api, features)
    with mock.patch.object(app, "send_task") as send_task:
        body = api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 1}).json()
    assert body["retrain_triggered"] is False
    send_task.assert_not_called()
    assert not RetrainRun.objects.filter(decision="queued").exists()


@pytest.mark.django_db(transaction=True)
def test_it_queues_the_retrain_when_the_usable_labels_cross_after_an_untrusted_flood(
    api, active_model, features, settings
):
    # Before: the crossing was read from the raw pending tally. Ten untrusted labels (the
    # original shape, from anyone) crossed 5 and queued a retrain that counts none of them,
    # and the usable labels that came later never crossed again.
    settings.RETRAIN_THRESHOLD = 5
    settings.RETRAIN_MAX_CLIENT_SHARE = 1.0  # one test client posts everything
    flood = {"features": features, "prediction": 0, "actual": 1}
    ids = [_predict(api, features) for _ in range(5)]
    with mock.patch.object(app, "send_task") as send_task:
        untrusted = [api.post("/feedback", flood).status_code for _ in range(10)]
        assert set(untrusted) <= {200, 201} and len(untrusted) == 10
        assert send_task.call_count == 0 and not RetrainRun.objects.exists()
        with time_machine.travel(timezone.now() + settings.MIN_LABEL_AGE + timedelta(hours=1)):
            answers = [
                api.post("/api/feedback", {"prediction_id": i, "actual": 1}).json() for i in ids
            ]
    assert [a["retrain_triggered"] for a in answers] == [False] * 4 + [True]
    assert send_task.call_count == 1
    assert list(RetrainRun.objects.values_list("trigger", "decision")) == [("feedback", "queued")]


def test_the_database_refuses_a_second_queued_feedback_retrain(db):
    from django.db import IntegrityError, transaction

    RetrainRun.objects.create(trigger=RetrainRun.Trigger.FEEDBACK, decision="queued")
    with pytest.raises(IntegrityError), transaction.atomic():
        RetrainRun.objects.create(trigger=RetrainRun.Trigger.FEEDBACK, decision="queued")


@pytest.mark.django_db(transaction=True)
def test_it_counts_only_feedback_no_retrain_consumed(api, active_model, features, settings):
    from training.models import RetrainRun

    settings.RETRAIN_THRESHOLD = 2
    ids = [_predict(api, features) for _ in range(2)]
    api.post("/api/feedback", {"prediction_id": ids[0], "actual": 1})
    run = RetrainRun.objects.create(trigger=RetrainRun.Trigger.MANUAL, decision="promoted")
    services.feedback_claim(run)
    with mock.patch.object(app, "send_task") as send_task:
        body = api.post("/api/feedback", {"prediction_id": ids[1], "actual": 1}).json()
    assert body["total_feedbacks"] == 2 and body["retrain_triggered"] is False
    send_task.assert_not_called()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("usable_at_once")
def test_it_still_records_feedback_when_the_broker_is_unreachable(
    api, active_model, features, settings, caplog, unreachable_broker
):
    settings.RETRAIN_THRESHOLD = 1
    prediction_id = _predict(api, features)
    with caplog.at_level(logging.WARNING, logger="training.retrain"):
        response = api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 1})
    assert response.status_code == 201
    assert response.json() == {"status": "ok", "total_feedbacks": 1, "retrain_triggered": False}
    assert Feedback.objects.filter(prediction_id=prediction_id).exists()
    run = RetrainRun.objects.get()  # recorded, then marked failed: the message never left
    assert (run.trigger, run.decision) == ("feedback", "failed") and "unreachable" in run.reason
    messages = [r.getMessage() for r in caplog.records if r.name == "training.retrain"]
    assert any("retrain_not_queued" in m for m in messages)
    assert not any("Female" in m or "Science" in m for m in messages)  # no feature values


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_it_answers_409_to_concurrent_feedback_on_the_same_prediction(api, active_model, features):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE); the race needs Postgres.")
    prediction_id = _predict(api, features)
    # Both requests pass every read before either inserts: only the unique constraint decides.
    both_ready = threading.Barrier(2, timeout=10)
    real_create = Feedback.objects.create

    def create_after_barrier(**kwargs):
        both_ready.wait()
        return real_create(**kwargs)

    results = []

    def send(actual):
        from django.db import connections

        try:
            results.append(services.feedback_create(prediction_id=prediction_id, actual=actual))
        except services.FeedbackExists as exc:
            results.append(exc)
        finally:
            connections.close_all()

    with mock.patch.object(Feedback.objects, "create", side_effect=create_after_barrier):
        threads = [threading.Thread(target=send, args=(a,)) for a in (True, False)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["FeedbackExists", "FeedbackOutcome"]
    assert Feedback.objects.filter(prediction_id=prediction_id).count() == 1
