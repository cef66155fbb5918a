"""Consent: the form's box is unticked by default; without it the estimate is shown and the
answers are not kept (a minimal row, or nothing, by NO_CONSENT_STORAGE); the API's
`"store": false` does the same; the original paths keep storing."""

from __future__ import annotations

import re

import pytest

from predictions import selectors
from predictions.models import Feedback, Prediction

pytestmark = pytest.mark.django_db

FIELDS = (
    "age",
    "gender",
    "department",
    "cgpa",
    "sleep_duration",
    "study_hours",
    "social_media_hours",
    "physical_activity",
    "stress_level",
)


def _answers(prediction) -> list:
    return [getattr(prediction, name) for name in FIELDS]


def test_it_asks_for_consent_with_an_unticked_box_and_links_the_privacy_notice(
    client, active_model
):
    html = client.get("/").content.decode()
    (box,) = re.findall(r"<input[^>]*name=\"consent\"[^>]*>", html)
    assert 'type="checkbox"' in box and "checked" not in box
    assert 'href="/privacy/"' in html
    assert "stored anonymously" not in html  # the old, wrong promise


def test_it_shows_the_estimate_without_consent_and_keeps_a_minimal_row(
    client, active_model, features, settings
):
    settings.NO_CONSENT_STORAGE = "minimal"
    response = client.post("/", features)
    assert response.status_code == 200  # shown now: no link to come back to
    html = response.content.decode()
    (prediction,) = Prediction.objects.all()
    assert f"{round(prediction.probability * 100)}%" in html
    assert 'data-testid="not-kept"' in html
    assert str(prediction.pk) not in html  # no result link, no feedback form, no deletion
    assert "/feedback/" not in html and "/delete/" not in html
    assert _answers(prediction) == [None] * 9 and prediction.warnings == []
    assert (prediction.consent, prediction.consent_version) == (False, settings.CONSENT_VERSION)
    assert prediction.channel == "form" and prediction.model_version_id == active_model.pk
    # No feedback link: its id is refused, and no page shows it.
    response = client.post(
        "/api/feedback", {"prediction_id": str(prediction.pk), "actual": 1}, "application/json"
    )
    assert response.status_code == 404 and not Feedback.objects.exists()
    assert client.get(f"/predictions/{prediction.pk}/").status_code == 404
    assert selectors.production_frame().empty  # monitoring sees no answers


def test_it_keeps_nothing_without_consent_when_set_to_none(
    client, active_model, features, settings
):
    settings.NO_CONSENT_STORAGE = "none"
    response = client.post("/", features)
    assert response.status_code == 200 and 'data-testid="risk-percent"' in response.content.decode()
    assert not Prediction.objects.exists()


def test_it_keeps_the_answers_with_consent_and_the_wording_version(
    client, active_model, features, settings
):
    settings.CONSENT_VERSION = "v-test-7"
    response = client.post("/", {**features, "consent": "on"})
    (prediction,) = Prediction.objects.all()
    assert response.status_code == 302 and response["Location"] == f"/predictions/{prediction.pk}/"
    assert prediction.age == features["Age"] and prediction.cgpa == features["CGPA"]
    assert (prediction.consent, prediction.consent_version) == (True, "v-test-7")


@pytest.mark.parametrize("shape", ["flat", "wrapped"])
def test_it_keeps_no_answer_when_the_api_says_store_false(client, active_model, features, shape):
    body = (
        {**features, "store": False} if shape == "flat" else {"features": features, "store": False}
    )
    response = client.post("/api/predict", body, "application/json")
    assert response.status_code == 200
    answer = response.json()
    assert answer["prediction_id"] is None and 0 <= answer["probability"] <= 1
    (prediction,) = Prediction.objects.all()
    assert _answers(prediction) == [None] * 9 and prediction.consent is False


@pytest.mark.parametrize(
    ("path", "body_of", "consent"),
    [
        ("/api/predict", lambda f: {**f, "store": True}, True),
        ("/api/predict", lambda f: f, None),  # not asked: stored as before
        ("/predict", lambda f: {"features": f}, None),  # the original client's path and shape
    ],
)
def test_it_stores_the_api_answers_unless_told_not_to(
    client, active_model, features, path, body_of, consent
):
    response = client.post(path, body_of(features), "application/json")
    assert response.status_code == 200
    prediction = Prediction.objects.get(pk=response.json()["prediction_id"])
    assert prediction.age == features["Age"] and prediction.consent is consent


@pytest.mark.parametrize("store", ["no", 0, None, [False]])
def test_it_refuses_a_store_that_is_not_a_boolean(client, active_model, features, store):
    response = client.post("/api/predict", {**features, "store": store}, "application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"store": ["Must be true or false."]}
    assert not Prediction.objects.exists()
