"""The feedback counts come from FeedbackTally (triggers), and stay equal to COUNT(*)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from predictions import selectors, services
from predictions.models import Feedback, FeedbackTally, Prediction
from training.models import RetrainRun


def _predictions(model_version, count: int) -> list[Prediction]:
    rows = [
        Prediction(
            age=21,
            gender="Female",
            department="Science",
            cgpa=3.1,
            sleep_duration=6.5,
            study_hours=4.0,
            social_media_hours=3.0,
            physical_activity=45,
            stress_level=6,
            probability=0.2,
            label=False,
            threshold=0.5,
            model_version=model_version,
            channel=Prediction.Channel.API,
        )
        for _ in range(count)
    ]
    return Prediction.objects.bulk_create(rows)


def _counted() -> tuple[int, int]:
    return Feedback.objects.count(), Feedback.objects.filter(consumed_by__isnull=True).count()


@pytest.mark.django_db
def test_it_counts_feedback_written_by_every_path(active_model):
    predictions = _predictions(active_model, 7)
    assert selectors.feedback_counts() == (0, 0)
    Feedback.objects.bulk_create(Feedback(prediction=p, actual=True) for p in predictions[:4])
    assert selectors.feedback_counts() == _counted() == (4, 4)
    services.feedback_create(prediction_id=predictions[4].pk, actual=False)
    assert selectors.feedback_counts() == _counted() == (5, 5)

    run = RetrainRun.objects.create(trigger=RetrainRun.Trigger.MANUAL)
    assert services.feedback_claim(run) == 5
    Feedback.objects.create(prediction=predictions[5], actual=True)
    assert selectors.feedback_counts() == _counted() == (6, 1)
    assert selectors.unconsumed_feedback_count() == 1 and selectors.feedback_count() == 6
    services.feedback_release(run)
    assert selectors.feedback_counts() == _counted() == (6, 6)

    Feedback.objects.filter(prediction__in=predictions[:2]).delete()
    Feedback.objects.filter(prediction=predictions[2]).update(actual=False)  # not a claim
    assert selectors.feedback_counts() == _counted() == (4, 4)


@pytest.mark.django_db
def test_it_counts_only_what_the_transaction_sees(active_model):
    predictions = _predictions(active_model, 2)
    Feedback.objects.create(prediction=predictions[0], actual=True)
    with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012 (a rolled-back block)
        Feedback.objects.create(prediction=predictions[1], actual=True)
        assert selectors.feedback_counts() == (2, 2)
        raise RuntimeError("rolled back")
    assert selectors.feedback_counts() == _counted() == (1, 1)


@pytest.mark.django_db
def test_it_answers_the_counts_without_counting_the_feedback_table(active_model):
    _predictions(active_model, 1)
    with CaptureQueriesContext(connection) as queries:
        selectors.feedback_counts()
    assert len(queries.captured_queries) == 1
    sql = queries.captured_queries[0]["sql"]
    assert "predictions_feedbacktally" in sql and 'predictions_feedback"' not in sql


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_it_stays_exact_with_concurrent_writers_and_a_truncate(active_model):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers and TRUNCATE: Postgres only")
    predictions = _predictions(active_model, 40)
    errors = []

    def write(chunk):
        try:
            for p in chunk:
                services.feedback_create(prediction_id=p.pk, actual=True)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(predictions[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert selectors.feedback_counts() == _counted() == (40, 40)
    assert FeedbackTally.objects.count() >= 1

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE predictions_feedback")
    assert selectors.feedback_counts() == (0, 0)
    Feedback.objects.create(prediction=predictions[0], actual=False)
    assert selectors.feedback_counts() == _counted() == (1, 1)
