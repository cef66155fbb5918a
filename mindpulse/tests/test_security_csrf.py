"""CSRF, with the checks on (`enforce_csrf_checks=True`): every form refuses a POST without
its token and changes nothing, and accepts it with the token its own page rendered;
session-authenticated API calls need the token too.

The public JSON API (predict, batch, feedback) uses no session, so it has nothing a forged
cross-site request could ride on; a browser cannot send it JSON across sites without CORS,
and a form-encoded body gets 415.
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from mindpulse.celery import app
from monitoring.models import Alert
from predictions import services
from predictions.models import Feedback, Prediction
from predictions.validation import validate_features
from training import services as training_services
from training.models import ModelVersion, RetrainRun

pytestmark = pytest.mark.django_db

FEATURES = {
    "Age": "21",
    "Gender": "Female",
    "Department": "Science",
    "CGPA": "3.1",
    "Sleep_Duration": "6.5",
    "Study_Hours": "4.0",
    "Social_Media_Hours": "3.0",
    "Physical_Activity": "45",
    "Stress_Level": "6",
}
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclasses.dataclass
class World:
    prediction: Prediction
    alert: Alert
    rejected: ModelVersion
    staff: object


@pytest.fixture
def world(active_model, trained_outcome):
    typed, errors = validate_features(FEATURES)
    assert not errors
    prediction = services.prediction_create(typed, channel=Prediction.Channel.FORM)
    alert = Alert.objects.create(kind="drift", severity="warning", message="m", dedup_key="k")
    rejected = training_services.model_register(
        trained_outcome, status=ModelVersion.Status.REJECTED
    )
    staff = get_user_model().objects.create_superuser("boss", "boss@example.org", "x" * 24)
    return World(prediction, alert, rejected, staff)


def _csv() -> io.BytesIO:
    upload = io.BytesIO(
        (",".join(FEATURES) + "\n" + ",".join(FEATURES.values()) + "\n").encode("utf-8")
    )
    upload.name = "students.csv"
    return upload


@dataclasses.dataclass
class Form:
    name: str
    page: Callable[[World], str]  # where the form is rendered (its token comes from there)
    action: Callable[[World], str]
    data: Callable[[World], dict]
    accepted: int  # the status with the token
    changed: Callable[[World], bool]  # what the POST does, checked after each attempt
    staff: bool = False


FORMS = [
    Form(
        "screening form",
        lambda w: "/",
        lambda w: "/",
        lambda w: {**FEATURES, "consent": "on"},  # kept, so it redirects to its result
        302,
        lambda w: Prediction.objects.filter(channel="form").count() > 1,
    ),
    Form(
        "feedback form",
        lambda w: f"/predictions/{w.prediction.pk}/",
        lambda w: f"/predictions/{w.prediction.pk}/feedback/",
        lambda w: {"actual": "1"},
        302,
        lambda w: Feedback.objects.exists(),
    ),
    Form(
        "batch upload",
        lambda w: "/predictions/batch/",
        lambda w: "/predictions/batch/",
        lambda w: {"file": _csv()},
        200,
        lambda w: Prediction.objects.filter(channel="batch").exists(),
    ),
    Form(
        "language switcher",
        lambda w: "/",
        lambda w: "/i18n/setlang/",
        lambda w: {"language": "fr", "next": "/"},
        302,
        lambda w: False,  # it only sets a cookie: checked through the status
    ),
    Form(
        "admin action: acknowledge alerts",
        lambda w: "/admin/monitoring/alert/",
        lambda w: "/admin/monitoring/alert/",
        lambda w: {"action": "acknowledge", "_selected_action": [w.alert.pk]},
        302,
        lambda w: Alert.objects.filter(acknowledged_at__isnull=False).exists(),
        staff=True,
    ),
    Form(
        "admin action: activate a version (rollback)",
        lambda w: "/admin/training/modelversion/",
        lambda w: "/admin/training/modelversion/",
        lambda w: {
            "action": "activate_version",
            "_selected_action": [w.rejected.pk],
            "apply": "1",
            "reason": "csrf test",
        },
        302,
        lambda w: ModelVersion.objects.get(pk=w.rejected.pk).status == "active",
        staff=True,
    ),
    Form(
        "admin: retrain now",
        lambda w: "/admin/training/retrainrun/retrain/",
        lambda w: "/admin/training/retrainrun/retrain/",
        lambda w: {"note": "csrf"},
        302,
        lambda w: RetrainRun.objects.exists(),
        staff=True,
    ),
    Form(
        "admin: run reports now",
        lambda w: "/admin/monitoring/monitoringreport/",
        lambda w: "/admin/monitoring/monitoringreport/run/",
        lambda w: {},
        302,
        lambda w: _queued_reports.called,
        staff=True,
    ),
    Form(
        "admin: password change",
        lambda w: "/admin/password_change/",
        lambda w: "/admin/password_change/",
        lambda w: {
            "old_password": "x" * 24,
            "new_password1": "another-long-passphrase-77",
            "new_password2": "another-long-passphrase-77",
        },
        302,
        lambda w: w.staff.__class__.objects.get(pk=w.staff.pk).check_password(
            "another-long-passphrase-77"
        ),
        staff=True,
    ),
]
_queued_reports = mock.MagicMock()


@pytest.fixture
def no_broker_messages(monkeypatch):
    """The broker connection stays real; the messages are captured instead of queued."""
    monkeypatch.setattr(app, "send_task", mock.MagicMock())
    _queued_reports.reset_mock()
    _queued_reports.return_value.id = "task-csrf"
    monkeypatch.setattr("monitoring.tasks.run_reports.apply_async", _queued_reports)


def _client(world: World, form: Form) -> Client:
    client = Client(enforce_csrf_checks=True)
    if form.staff:
        client.force_login(world.staff)
    return client


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_it_refuses_a_form_post_without_its_token(world, form, no_broker_messages):
    client = _client(world, form)
    client.get(form.page(world))  # the CSRF cookie is set, but the POST omits the token
    response = client.post(form.action(world), form.data(world))
    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()
    assert not form.changed(world)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_it_accepts_a_form_post_with_the_token_of_its_page(world, form, no_broker_messages):
    client = _client(world, form)
    page = client.get(form.page(world))
    assert page.status_code == 200
    (token, *_) = TOKEN.findall(page.content.decode())
    response = client.post(form.action(world), {**form.data(world), "csrfmiddlewaretoken": token})
    assert response.status_code == form.accepted, response.content.decode()[:500]
    if form.name == "language switcher":
        assert response.cookies["django_language"].value == "fr"
    else:
        assert form.changed(world)


def test_it_refuses_the_admin_login_without_a_token(world):
    response = Client(enforce_csrf_checks=True).post(
        "/admin/login/", {"username": "boss", "password": "x" * 24}
    )
    assert response.status_code == 403


def test_it_requires_the_token_on_session_authenticated_api_calls(world, no_broker_messages):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff)
    page = client.get("/admin/")  # sets the CSRF cookie, as a signed-in browser has it
    assert page.status_code == 200
    refused = client.post("/api/retrain", {"note": "x"}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not RetrainRun.objects.exists()
    accepted = client.post(
        "/api/retrain",
        {"note": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert accepted.status_code == 202
    assert RetrainRun.objects.count() == 1
    # Reading needs no token (a safe method).
    assert client.get(f"/api/retrain/{accepted.json()['run_id']}").status_code == 200
