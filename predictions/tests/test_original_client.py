"""The original Streamlit client (webapp/app.py) against MindPulse, over real HTTP.

Its requests and checks are vendored as data (fixtures/original_client.json), not as code:
the client posts with `requests.post(url, json=body)`, accepts only status 200, then reads a
few keys; anything else it shows as "Erreur: <status>". `client_shows` is that check.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictions.models import Feedback, Prediction

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "original_client.json").read_text())
PAIRS = FIXTURE["pairs"]
WIDGETS = FIXTURE["widgets"]


def client_shows(response) -> str:
    """What the original client shows for an answer: its only rule is status 200."""
    if response.status_code != 200:
        return f"Erreur: {response.status_code}"
    return "ok"


def send(base_url: str, request: dict):
    url = base_url + request["path"]
    if request["method"] == "GET":
        return requests.get(url, timeout=10)
    return requests.post(url, json=request["json"], timeout=10)


def matches(expected, value) -> bool:
    if expected == "0|1":
        return value in (0, 1) and not isinstance(value, bool)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "bool":
        return isinstance(value, bool)
    return value == expected


@pytest.mark.django_db(transaction=True)
def test_it_answers_every_recorded_request_of_the_original_client(live_server, active_model):
    for pair in PAIRS:
        response = send(live_server.url, pair["request"])
        assert client_shows(response) == "ok", (pair["name"], response.text)
        body = response.json()
        for key in pair["response"]["reads"]:
            assert matches(pair["response"]["body"][key], body[key]), (pair["name"], key, body)
    feedback = [p for p in PAIRS if p["request"]["path"] == "/feedback"]
    assert Feedback.objects.count() == len(feedback)
    # The 44-hour day was accepted with a warning, stored with its row.
    long_days = [p for p in Prediction.objects.all() if p.sleep_duration + p.study_hours > 24]
    assert len(long_days) == 2
    assert all("implausible_day" in [w["code"] for w in p.warnings] for p in long_days)


def _slider(name: str):
    low, high = WIDGETS[name]["slider"]
    if isinstance(low, int) and isinstance(high, int):
        return st.integers(low, high)
    decimals = 2 if name == "CGPA" else 1  # the sliders' steps: 0.01 and 0.1
    return st.floats(low, high).map(lambda value: round(value, decimals))


def _widget(name: str):
    spec = WIDGETS[name]
    if "slider" in spec:
        return _slider(name)
    return st.sampled_from(spec.get("selectbox") or spec.get("radio"))


FEATURE_WIDGETS = st.fixed_dictionaries(
    {name: _widget(name) for name in WIDGETS if name != "actual"}
)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(features=FEATURE_WIDGETS, actual=st.sampled_from([0, 1]))
def test_it_answers_200_to_anything_the_widgets_can_produce(api, active_model, features, actual):
    predicted = api.post("/predict", features)
    assert predicted.status_code == 200, predicted.json()
    assert predicted.json()["prediction"] in (0, 1)
    answered = api.post("/feedback", dict(features, actual=actual))
    assert answered.status_code == 200, answered.json()
    assert set(answered.json()) == {"status", "total_feedbacks", "retrain_triggered"}
    day = features["Sleep_Duration"] + features["Study_Hours"] + features["Social_Media_Hours"]
    codes = [w["code"] for w in predicted.json()["warnings"]]
    assert ("implausible_day" in codes) == (round(day, 6) > 24)
