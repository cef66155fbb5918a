"""POST /api/predict, GET /api/health, GET /api/predictions/<id>, the compatibility paths and
the OpenAPI schema."""

from __future__ import annotations

import json
import uuid

import pytest

from predictions.models import Prediction
from training import services, serving

pytestmark = pytest.mark.django_db

PREDICT_KEYS = {
    "prediction",
    "probability",
    "threshold",
    "model_version",
    "prediction_id",
    "warnings",
}


def test_it_predicts_a_flat_body_and_stores_the_row(api, active_model, features):
    response = api.post("/api/predict", features)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PREDICT_KEYS
    row = Prediction.objects.get(pk=body["prediction_id"])
    loaded = serving.get_active_model()
    expected = loaded.predictor.predict_proba_one(features)
    assert body["probability"] == pytest.approx(expected)
    assert body["prediction"] == int(expected >= loaded.threshold)
    assert body["threshold"] == active_model.threshold
    assert body["model_version"] == active_model.version
    assert body["warnings"] == []
    assert row.channel == Prediction.Channel.API
    assert row.model_version_id == active_model.pk
    assert row.probability == body["probability"] and row.label == bool(body["prediction"])
    assert (row.age, row.gender, row.cgpa, row.stress_level) == (21, "Female", 3.1, 6)
    assert row.latency_ms is not None and row.latency_ms > 0


def test_it_predicts_the_original_wrapped_shape_identically(api, active_model, features):
    flat = api.post("/api/predict", features).json()
    wrapped = api.post("/api/predict", {"features": features}).json()
    assert wrapped["probability"] == flat["probability"]
    assert wrapped["prediction_id"] != flat["prediction_id"]
    assert Prediction.objects.count() == 2


def test_it_labels_at_risk_at_or_above_the_threshold(api, active_model, features):
    probability = serving.get_active_model().predictor.predict_proba_one(features)
    labels = []
    for threshold in (probability, probability + 1e-9):
        # The serving layer reads the threshold from the registry row when it loads a version.
        type(active_model).objects.filter(pk=active_model.pk).update(threshold=threshold)
        serving.reset_cache()
        body = api.post("/api/predict", features).json()
        assert body["threshold"] == threshold
        labels.append(body["prediction"])
    assert labels == [1, 0]


def test_it_warns_about_values_outside_the_training_range(api, active_model, features):
    body = api.post("/api/predict", dict(features, Age=40)).json()
    assert len(body["warnings"]) == 1
    warning = body["warnings"][0]
    assert warning["feature"] == "Age" and warning["code"] == "outside_training_range"
    assert warning["value"] == 40
    # The generated training data's ages: measured from the reference, not assumed.
    assert warning["training_min"] <= 24 < 40 and warning["training_max"] < 40
    assert Prediction.objects.get(pk=body["prediction_id"]).warnings == body["warnings"]


def test_it_refuses_invalid_input_with_one_message_per_field(api, active_model, features):
    bad = dict(features, Age=True, CGPA="high", Gender="Other", Hobby="x")
    bad.pop("Stress_Level")
    response = api.post("/api/predict", bad)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert set(body["errors"]) == {"Age", "CGPA", "Gender", "Hobby", "Stress_Level"}
    assert all(isinstance(m, list) and len(m) == 1 for m in body["errors"].values())
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/predict", "/predict"])
def test_it_answers_a_day_over_24_hours_with_a_stored_warning(api, active_model, features, path):
    long_day = dict(features, Sleep_Duration=12, Study_Hours=10, Social_Media_Hours=3)
    response = api.post(path, long_day)
    assert response.status_code == 200
    (warning,) = [w for w in response.json()["warnings"] if w["code"] == "implausible_day"]
    assert warning["value"] == 25
    assert "add up to 25 hours" in warning["message"]
    stored = Prediction.objects.get(pk=response.json()["prediction_id"])
    assert [w["code"] for w in stored.warnings].count("implausible_day") == 1


def test_it_stores_no_day_warning_at_exactly_24_hours(api, active_model, features):
    full_day = dict(features, Sleep_Duration=12, Study_Hours=10, Social_Media_Hours=2)
    body = api.post("/api/predict", full_day).json()
    assert "implausible_day" not in [w["code"] for w in body["warnings"]]


def test_it_ignores_student_id_and_depression(api, active_model, features):
    response = api.post("/api/predict", dict(features, Student_ID=1001, Depression=1))
    assert response.status_code == 200


def test_it_refuses_unknown_keys_next_to_the_wrapped_features(api, active_model, features):
    response = api.post("/api/predict", {"features": features, "extra": 1})
    assert response.status_code == 400
    assert response.json()["errors"] == {"extra": ["Unknown field."]}
    response = api.post("/api/predict", {"features": [features]})
    assert response.json()["errors"] == {"features": ["Expected an object."]}


@pytest.mark.parametrize(
    "body",
    [
        b'{"Age": NaN}',
        b'{"Age": Infinity}',
        b'{"Age": -Infinity}',
        b'{"Age": 21',
        b"not json",
        b"\xff\xfe\x00",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["NaN", "Infinity", "-Infinity", "truncated", "text", "bad utf-8", "deeply nested"],
)
def test_it_answers_400_to_a_malformed_body(client, active_model, body):
    response = client.post("/api/predict", body, content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()
    assert Prediction.objects.count() == 0


@pytest.mark.parametrize("body", ["[]", "21", "null", '"text"'])
def test_it_answers_400_to_json_that_is_not_an_object(client, active_model, body):
    response = client.post("/api/predict", body, content_type="application/json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["non_field_errors"]


def test_it_answers_415_to_a_wrong_content_type(client, active_model, features):
    response = client.post(
        "/api/predict", "Age=21", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    response = client.post("/api/predict", json.dumps(features), content_type="text/plain")
    assert response.status_code == 415
    assert Prediction.objects.count() == 0


def test_it_answers_413_to_an_oversized_body(client, active_model, settings, features):
    settings.MAX_REQUEST_BYTES = 2048
    padded = json.dumps(dict(features, Student_ID="x" * 4000))
    response = client.post("/api/predict", padded, content_type="application/json")
    assert response.status_code == 413
    assert "2048" in response.json()["detail"]
    assert client.post("/api/predict", features, content_type="application/json").status_code == 200


def test_it_answers_503_without_an_active_model(api, db, features):
    response = api.post("/api/predict", features)
    assert response.status_code == 503
    assert "not ready" in response.json()["detail"]
    assert Prediction.objects.count() == 0


def test_it_answers_with_the_new_version_after_a_hot_swap(
    api, active_model, trained_outcome, features
):
    first = api.post("/api/predict", features).json()
    newer = services.model_activate(services.model_register(trained_outcome), reason="test swap")
    second = api.post("/api/predict", features).json()
    assert (first["model_version"], second["model_version"]) == (
        active_model.version,
        newer.version,
    )
    assert Prediction.objects.get(pk=second["prediction_id"]).model_version_id == newer.pk


@pytest.mark.parametrize(
    ("compat", "current"), [("/predict", "/api/predict"), ("/feedback", "/api/feedback")]
)
def test_it_answers_the_original_paths_like_the_api_ones(
    api, active_model, features, compat, current
):
    bad = dict(features, Age="old")
    assert api.post(compat, bad).json() == api.post(current, bad).json()
    if compat == "/predict":
        answers = [api.post(path, features).json() for path in (compat, current)]
        assert answers[0].keys() == answers[1].keys()
        assert answers[0]["probability"] == answers[1]["probability"]
    else:
        ids = [api.post("/api/predict", features).json()["prediction_id"] for _ in range(2)]
        first = api.post(compat, {"prediction_id": ids[0], "actual": 1})
        second = api.post(current, {"prediction_id": ids[1], "actual": 1})
        # The original client accepts only 200; the API keeps its 201 Created.
        assert (first.status_code, second.status_code) == (200, 201)
        assert first.json()["total_feedbacks"] + 1 == second.json()["total_feedbacks"]


def test_it_reports_health_ok_with_a_model(client, active_model):
    for path in ("/api/health", "/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "model_loaded": True,
            "error": None,
            "model_version": active_model.version,
            "database": True,
            "broker": True,
        }


def test_it_reports_health_degraded_without_a_model(client, db):
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["model_loaded"] is False and response.json()["model_version"] is None
    assert response.json()["error"] == "No model is in service yet."


def test_it_reports_health_degraded_when_the_broker_is_unreachable(
    client, active_model, unreachable_broker
):
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["broker"] is False and response.json()["database"] is True
    assert response.json()["error"] == "The task queue (broker) does not answer."


# --- GET /api/predictions/<id>: staff only -------------------------------------------------


@pytest.fixture
def stored(api, active_model, features):
    prediction_id = api.post("/api/predict", features).json()["prediction_id"]
    api.post("/api/feedback", {"prediction_id": prediction_id, "actual": 1})
    return prediction_id


def test_it_shows_a_stored_prediction_with_its_feedback_to_staff(
    client, admin_user, stored, features
):
    client.force_login(admin_user)
    response = client.get(f"/api/predictions/{stored}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == stored and body["features"] == features and body["channel"] == "api"
    assert body["feedback"]["actual"] == 1 and body["feedback"]["consumed_by"] is None


def test_it_accepts_a_staff_api_token(client, admin_user, stored):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=admin_user)
    response = client.get(f"/api/predictions/{stored}", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_it_refuses_a_stored_prediction_to_anonymous_and_non_staff(
    client, django_user_model, stored
):
    response = client.get(f"/api/predictions/{stored}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
    client.force_login(django_user_model.objects.create_user("student", password="x"))
    assert client.get(f"/api/predictions/{stored}").status_code == 403


def test_it_answers_404_for_an_unknown_prediction(client, admin_user, db):
    client.force_login(admin_user)
    assert client.get(f"/api/predictions/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/predictions/not-a-uuid").status_code == 404


# --- OpenAPI -------------------------------------------------------------------------------


def test_it_documents_the_api_in_the_openapi_schema(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    for path in ("/api/predict", "/api/predict/batch", "/api/feedback", "/api/health"):
        assert path in paths
    assert "/api/predictions/{id}" in paths
    assert "/predict" not in paths  # the compatibility paths are not duplicated
    predict = paths["/api/predict"]["post"]
    assert {"200", "400", "413", "415", "503"} <= set(predict["responses"])
    assert {"201", "404", "409"} <= set(paths["/api/feedback"]["post"]["responses"])
    components = schema["components"]["schemas"]
    assert set(components["PredictOutput"]["properties"]) == PREDICT_KEYS
    assert set(components["FeedbackOutput"]["properties"]) == {
        "status",
        "total_feedbacks",
        "retrain_triggered",
    }
    age = components["Features"]["properties"]["Age"]
    assert (age["type"], age["minimum"], age["maximum"]) == ("integer", 15, 100)
    batch = paths["/api/predict/batch"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data", "text/csv"} <= set(batch)


def test_it_serves_swagger_ui(client, db):
    assert client.get("/api/docs/").status_code == 200
