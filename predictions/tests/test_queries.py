"""The write paths make only the queries they need (behaviour, not timing)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from predictions import services
from predictions.models import Feedback, Prediction

pytestmark = pytest.mark.django_db


def _sql(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def test_it_stores_a_prediction_with_one_insert_and_nothing_else(
    api, active_model, features, settings
):
    assert api.post("/api/predict", features).status_code == 200  # loads the model and ranges
    settings.ACTIVE_MODEL_CHECK_SECONDS = 3600  # the periodic active-version check, not per request
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/predict", features)
    assert response.status_code == 200
    sql = _sql(queries)
    assert len(sql) == 1, sql
    assert sql[0].startswith('INSERT INTO "predictions_prediction"')
    assert Prediction.objects.filter(pk=response.json()["prediction_id"]).exists()


def test_it_records_feedback_without_counting_the_feedback_table(api, active_model, features):
    prediction_id = api.post("/api/predict", features).json()["prediction_id"]
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 1})
    assert response.status_code == 201
    # The test's own transaction turns the view's atomic block into one savepoint.
    sql = [s for s in _sql(queries) if "SAVEPOINT" not in s]
    assert len(_sql(queries)) - len(sql) == 2, _sql(queries)
    assert len(sql) == 3, sql  # the prediction, the INSERT, the counts
    assert sql[0].startswith("SELECT") and '"predictions_prediction"' in sql[0]
    assert sql[1].startswith('INSERT INTO "predictions_feedback"')
    assert "predictions_feedbacktally" in sql[2] and "COUNT(" not in sql[2].upper()


def test_it_stores_a_batch_with_every_column_as_given(active_model, features):
    rows = [features, dict(features, Age=17, Gender="Male", CGPA=0.5)]
    before = timezone.now()
    stored = services.prediction_create_many(rows)
    assert all(not p._state.adding for p in stored)
    for made in stored:
        read = Prediction.objects.get(pk=made.pk)
        for field in Prediction._meta.concrete_fields:
            assert getattr(read, field.attname) == getattr(made, field.attname), field.name
        assert read.created_at >= before
    assert stored[1].warnings and stored[1].warnings[0]["feature"] == "Age"
    Feedback.objects.create(prediction=stored[0], actual=True)  # usable as stored instances
