"""Redis or Postgres unreachable, for real: the test puts a TCP proxy it controls between a
gunicorn server and the service, and cuts it (open connections reset, new ones refused),
while the machine's own Redis and Postgres keep running.

- Redis down: predictions and feedback keep working (they need only Postgres; the rate
  limiter fails open), what needs the broker answers 503 (the API) or says so (the admin),
  and everything works again once Redis is back, without a restart.
- Postgres down for a few seconds: every request answers 503 "temporarily unavailable"
  (JSON for the API, a page otherwise) without a traceback, and the next request after it
  is back succeeds, without a restart (CONN_HEALTH_CHECKS reconnects).
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections import Counter

import pytest
import redis
from django.db import InterfaceError, OperationalError, connection
from django.test import Client
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerError

from mindpulse.testing import SAMPLE_FEATURES
from monitoring.models import MonitoringRun
from predictions.models import Feedback, Prediction
from training.models import RetrainRun

from .live import (
    TcpProxy,
    admin_login,
    database_url,
    gunicorn,
    post_form,
    request,
    require,
    session,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

FEATURES = SAMPLE_FEATURES
STAFF = ("ops", "a-long-unguessable-passphrase-99")
STAFF_TOKEN = "5e1f" * 10  # the staff API token (40 hexadecimal characters)
BEAT_ADMIN = "/admin/django_celery_beat/periodictask/"
BINDINGS = ("binding", "binding_permanent")
# Nothing in the answers may show how the server failed.
LEAKS = ("Traceback", "OperationalError", "psycopg", "redis.exceptions", 'File "')


@pytest.fixture
def staff(django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_superuser(STAFF[0], "ops@example.org", STAFF[1])
    Token.objects.create(user=user, key=STAFF_TOKEN)
    return user


def _predict(base_url):
    return request(base_url + "/api/predict", method="POST", json_body=FEATURES)


def _feedback(base_url, reply):
    body = {"prediction_id": reply.json()["prediction_id"], "actual": 1}
    return request(base_url + "/api/feedback", method="POST", json_body=body)


def _retrain(base_url):
    return request(
        base_url + "/api/retrain",
        method="POST",
        json_body={"note": "fault test"},
        headers={"Authorization": f"Token {STAFF_TOKEN}"},
    )


def _admin_messages(base_url, opener, path) -> str:
    return request(base_url + path, opener=opener).text


def _no_leak(reply):
    for leak in LEAKS:
        assert leak not in reply.text, reply.text[:500]


def test_it_keeps_predicting_without_redis_and_resumes_when_it_is_back(
    active_model, staff, settings, beat_rows
):
    broker = urllib.parse.urlsplit(settings.CELERY_BROKER_URL)
    require(broker.scheme == "redis", "Needs Redis as the broker (CELERY_BROKER_URL=redis://).")
    queue = f"mindpulse-faults-{uuid.uuid4().hex[:8]}"
    schedule = PeriodicTask.objects.get(task="monitoring.tasks.run_reports")
    run_selected = {"action": "run_tasks", "_selected_action": schedule.pk}
    with TcpProxy(broker.hostname, broker.port or 6379) as proxy:
        proxied = f"redis://127.0.0.1:{proxy.port}{broker.path or '/0'}"
        env = {
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": proxied,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "CELERY_TRAINING_QUEUE": f"{queue}-training",
            "CELERY_MONITORING_QUEUE": f"{queue}-monitoring",
            "THROTTLE_ENABLED": "true",  # its counters are in Redis too: they must fail open
        }
        try:
            with gunicorn(settings, env, workers=1, threads=4) as server:
                base = server.base_url
                opener = admin_login(base, *STAFF)
                assert _predict(base).status == 200
                assert request(base + "/api/health").json()["broker"] is True
                assert _retrain(base).status == 202

                proxy.cut()
                started = time.monotonic()
                for _ in range(5):
                    reply = _predict(base)
                    assert reply.status == 200
                    assert _feedback(base, reply).status == 201
                assert time.monotonic() - started < 15  # no long broker timeouts on the way
                health = request(base + "/api/health")
                assert health.status == 503
                assert health.json()["broker"] is False and health.json()["database"] is True
                refused = _retrain(base)
                assert refused.status == 503
                assert "task queue is unreachable" in refused.json()["detail"]
                _no_leak(refused)
                # The admin's buttons say so instead of failing.
                reply = post_form(
                    base, "/admin/training/retrainrun/retrain/", opener, {"note": "x"}
                )
                assert reply.status == 302
                page = _admin_messages(base, opener, "/admin/training/retrainrun/")
                assert "task queue is unreachable" in page
                reply = post_form(base, "/admin/monitoring/monitoringreport/run/", opener)
                assert reply.status == 302
                page = _admin_messages(base, opener, "/admin/monitoring/monitoringreport/")
                assert "could not be queued: the task broker is unreachable" in page
                # django-celery-beat's own "Run selected tasks": a 503 page, not a 500.
                reply = post_form(base, BEAT_ADMIN, opener, run_selected)
                assert reply.status == 503 and "task queue (broker) cannot be reached" in reply.text
                _no_leak(reply)

                proxy.restore()
                assert _retrain(base).status == 202
                assert request(base + "/api/health").status == 200
                post_form(base, "/admin/monitoring/monitoringreport/run/", opener)
                page = _admin_messages(base, opener, "/admin/monitoring/monitoringreport/")
                assert "Reports queued" in page
                assert post_form(base, BEAT_ADMIN, opener, run_selected).status == 302
                assert "Internal Server Error" not in server.output()  # no 500 at all
        finally:
            # The messages queued for no worker, and kombu's bindings of that queue.
            client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
            client.delete(queue, *(f"_kombu.{kind}.{queue}" for kind in BINDINGS))

    assert Prediction.objects.count() == 1 + 5
    assert Feedback.objects.count() == 5
    decisions = Counter(RetrainRun.objects.values_list("decision", flat=True))
    assert decisions == {"queued": 2, "failed": 2}
    assert not MonitoringRun.objects.exists()  # queued, not run: no worker in this test


def test_it_answers_503_while_postgres_is_down_and_recovers_without_a_restart(
    active_model, settings
):
    require(connection.vendor == "postgresql", "Needs Postgres (DATABASE_URL=postgres://...).")
    s = connection.settings_dict
    with TcpProxy(s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432)) as proxy:
        env = {"DATABASE_URL": database_url(s, host="127.0.0.1", port=proxy.port)}
        with gunicorn(settings, env, workers=1, threads=2) as server:
            base = server.base_url
            first = _predict(base)
            assert first.status == 200
            result_page = f"/predictions/{first.json()['prediction_id']}/"
            browser = session()
            assert request(base + "/", opener=browser).status == 200  # its CSRF cookie

            proxy.cut()
            down_until = time.monotonic() + 3
            answers = 0
            while time.monotonic() < down_until or answers < 3:
                api = _predict(base)
                assert api.status == 503, api.text[:300]
                assert "temporarily unavailable" in api.json()["detail"]
                assert int(api.headers["Retry-After"]) > 0
                page = request(base + result_page)
                assert page.status == 503 and "Temporarily unavailable" in page.text
                form = post_form(base, "/", browser, FEATURES)
                assert form.status == 503 and "Temporarily unavailable" in form.text
                health = request(base + "/api/health")
                assert health.status == 503 and health.json()["database"] is False
                for reply in (api, page, form, health):
                    _no_leak(reply)
                answers += 1

            proxy.restore()
            assert _predict(base).status == 200  # the very next request
            assert request(base + result_page).status == 200
            assert request(base + "/api/health").json()["database"] is True
    assert Prediction.objects.count() == 2


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (OperationalError("connection refused"), 503, "temporarily unavailable"),
        (InterfaceError("connection already closed"), 503, "temporarily unavailable"),
        (BrokerError("Error 111 connecting"), 503, "task queue (broker) cannot be reached"),
        (RuntimeError("a bug"), 500, ""),
    ],
)
@pytest.mark.parametrize("path", ["/api/health", "/"])
def test_it_maps_an_outage_to_503_and_keeps_500_for_bugs(monkeypatch, path, error, status, says):
    """In-process, on any database: what the handler answers, for the API and for a page."""
    from predictions import api
    from training import serving

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(api.HealthView, "get", fail)
    monkeypatch.setattr(serving, "get_active_model", fail)  # the form page's first call
    client = Client(raise_request_exception=False)
    response = client.get(path) if path != "/" else client.get("/", HTTP_ACCEPT="text/html")
    assert response.status_code == status
    text = response.content.decode()
    assert says in text and "Traceback" not in text and str(error) not in text
    if status == 503:
        assert response["Retry-After"] == "5"
        is_json = response["Content-Type"] == "application/json"
        assert is_json == (path == "/api/health")
