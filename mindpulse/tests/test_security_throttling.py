"""Rate limits of the public endpoints: 429 with Retry-After, per client, configurable, cheap
(one counter operation per request), shared through Redis, and failing open without it."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from mindpulse import throttling
from mindpulse.settings.env import env_rate
from mindpulse.testing import SAMPLE_FEATURES
from predictions.models import Feedback, Prediction

from .live import require

pytestmark = pytest.mark.django_db

FEATURES = SAMPLE_FEATURES
_addresses = (f"10.66.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def new_client() -> Client:
    """A client with an address of its own: counters in Redis outlive a test."""
    return Client(REMOTE_ADDR=next(_addresses))


@pytest.fixture
def limits(settings):
    settings.THROTTLE_ENABLED = True
    settings.THROTTLE_RATES = {
        "predict": (3, 60),
        "batch": (2, 60),
        "feedback": (2, 60),
        "health": (2, 60),
        "forms": (2, 60),
    }
    throttling.reset()
    yield settings
    throttling.reset()


def post_json(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def _feedback_body():
    from predictions import services

    prediction = services.prediction_create(FEATURES, channel=Prediction.Channel.API)
    return {"prediction_id": str(prediction.pk), "actual": 1}


CALLS = {
    "predict": lambda c: post_json(c, "/api/predict", FEATURES),
    "batch": lambda c: post_json(c, "/api/predict/batch", [FEATURES]),
    "feedback": lambda c: post_json(c, "/api/feedback", _feedback_body()),
    "health": lambda c: c.get("/api/health"),
}


def assert_throttled(response):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert "throttled" in response.json()["detail"]


@pytest.mark.parametrize(("scope", "allowed"), [("predict", 3), ("batch", 2), ("feedback", 2)])
def test_it_answers_429_with_retry_after_over_the_limit(limits, active_model, scope, allowed):
    client = new_client()
    for _ in range(allowed):
        assert CALLS[scope](client).status_code in (200, 201)
    stored = (Prediction.objects.count(), Feedback.objects.count())
    assert_throttled(CALLS[scope](client))
    # The refused request stored nothing (the feedback case creates its prediction first).
    extra = 1 if scope == "feedback" else 0
    assert (Prediction.objects.count(), Feedback.objects.count()) == (stored[0] + extra, stored[1])


def test_it_limits_the_health_check(limits, active_model):
    client = new_client()
    for _ in range(2):
        assert CALLS["health"](client).status_code in (200, 503)
    assert_throttled(CALLS["health"](client))


def test_it_counts_the_original_paths_with_the_api_ones(limits, active_model):
    client = new_client()
    for path in ("/api/predict", "/predict", "/api/predict"):
        assert post_json(client, path, FEATURES).status_code == 200
    assert_throttled(post_json(client, "/predict", FEATURES))


def test_it_limits_each_client_address_separately(limits, active_model):
    first, second = new_client(), new_client()
    for _ in range(3):
        post_json(first, "/api/predict", FEATURES)
    assert post_json(first, "/api/predict", FEATURES).status_code == 429
    assert post_json(second, "/api/predict", FEATURES).status_code == 200


def test_it_reads_the_client_address_from_the_proxy_when_told(limits, active_model, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = new_client()  # every request arrives from the proxy's address
    for _ in range(3):
        post_json(proxy, "/api/predict", FEATURES)
    other = proxy.post(
        "/api/predict",
        json.dumps(FEATURES),
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=f"1.2.3.4, {next(_addresses)}",
    )
    assert other.status_code == 200  # another client behind the proxy: its own counter


def test_it_limits_the_form_posts_but_not_the_pages(limits, active_model):
    client = new_client()
    form = {**{name: str(value) for name, value in FEATURES.items()}, "consent": "on"}
    for _ in range(2):
        assert client.post("/", form).status_code == 302
    response = client.post("/", form)
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 60
    assert "Too many requests" in response.content.decode()
    assert Prediction.objects.count() == 2
    assert client.get("/").status_code == 200


def test_it_does_not_limit_when_disabled(limits, active_model):
    limits.THROTTLE_ENABLED = False
    client = new_client()
    assert all(post_json(client, "/api/predict", FEATURES).status_code == 200 for _ in range(6))


def test_it_costs_one_counter_operation_per_request(limits, active_model, monkeypatch):
    store = throttling._stores.get()
    calls = []
    original = store.incr

    def counting(key, ttl):
        calls.append(key)
        return original(key, ttl)

    monkeypatch.setattr(store, "incr", counting)
    client = new_client()
    for _ in range(4):
        post_json(client, "/api/predict", FEATURES)
    assert len(calls) == 4 and len(set(calls)) == 1


def test_it_fails_open_and_backs_off_when_redis_is_unreachable(limits, active_model, caplog):
    limits.THROTTLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    client = new_client()
    statuses = [post_json(client, "/api/predict", FEATURES).status_code for _ in range(6)]
    assert statuses == [200] * 6
    warnings = [r for r in caplog.records if r.getMessage().startswith("throttle_store")]
    assert len(warnings) == 1  # tried once, then left alone for RETRY_STORE_SECONDS


@pytest.mark.services
def test_it_shares_the_counters_between_processes_through_redis(limits, active_model):
    require(bool(limits.THROTTLE_REDIS_URL), "Needs Redis (CELERY_BROKER_URL=redis://).")
    client = new_client()
    for _ in range(3):
        post_json(client, "/api/predict", FEATURES)
    throttling._stores.by_url.clear()  # what another gunicorn worker starts with
    assert post_json(client, "/api/predict", FEATURES).status_code == 429


def test_it_documents_429_in_the_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    for path, method in (
        ("/api/predict", "post"),
        ("/api/predict/batch", "post"),
        ("/api/feedback", "post"),
        ("/api/health", "get"),
    ):
        assert "429" in schema["paths"][path][method]["responses"], path


@pytest.mark.parametrize(
    ("value", "expected"),
    [("600/min", (600, 60)), ("5/second", (5, 1)), ("100/h", (100, 3600)), ("off", None)],
)
def test_it_reads_rates_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("THROTTLE_X", value)
    assert env_rate("THROTTLE_X", "1/min") == expected


@pytest.mark.parametrize("value", ["600", "ten/min", "5/fortnight", "-1/min"])
def test_it_refuses_a_malformed_rate(monkeypatch, value):
    monkeypatch.setenv("THROTTLE_X", value)
    with pytest.raises(ImproperlyConfigured, match="THROTTLE_X"):
        env_rate("THROTTLE_X", "1/min")


def test_it_counts_clients_by_a_keyed_hash_never_by_their_address(settings):
    key = throttling.client_key_for("10.1.2.3", now=0)
    assert "10.1.2.3" not in key and len(key) == 32
    assert throttling.client_key_for("10.1.2.3", now=1) == key  # stable within a period
    assert throttling.client_key_for("10.1.2.4", now=0) != key
    later = settings.CLIENT_KEY_ROTATION_DAYS * 86400
    assert throttling.client_key_for("10.1.2.3", now=later) != key  # the key rotates
    settings.SECRET_KEY = "another-secret-" * 5
    assert throttling.client_key_for("10.1.2.3", now=0) != key  # and needs the secret
