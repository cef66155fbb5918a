"""The authorization matrix: every URL pattern of MindPulse x {anonymous, user (signed in, not
staff), staff (no permission), superuser} -> the expected status.

The list of patterns comes from the URL resolver, and a pattern missing from the table fails
the suite: a new endpoint cannot slip in untested. Anonymous users may predict, send feedback
and read their own result (its URL holds an unguessable UUID); everything else is for staff,
and inside the admin for staff with the matching permission. /metrics takes a token, not a
session (test_metrics.py): here it refuses every role.
"""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import Callable
from unittest import mock

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLResolver, get_resolver
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_celery_results.models import GroupResult, TaskResult
from rest_framework.authtoken.models import Token

from mindpulse.celery import app
from mindpulse.testing import SAMPLE_FEATURES
from monitoring.models import Alert, MonitoringReport, MonitoringRun
from predictions import services
from predictions.models import Prediction
from privacy.models import AccessRecord, Erasure, RetentionRun
from training.models import ActivationEvent, DatasetImport, RetrainRun, StudentRecord

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "user", "staff", "superuser")
FEATURES = SAMPLE_FEATURES


def routes() -> list[str]:
    """Every URL pattern of the project, as one string per route."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    return list(walk(get_resolver().url_patterns))


# --- The world the requests act on -------------------------------------------------------------


@dataclasses.dataclass
class World:
    objects: dict  # admin model label -> the pk of one instance
    prediction: Prediction
    answered: Prediction  # a prediction with its feedback
    report: MonitoringReport
    run: RetrainRun


@pytest.fixture
def world(active_model, settings, monkeypatch, beat_rows):
    # The retrain and "run reports now" messages are captured, not queued.
    monkeypatch.setattr(app, "send_task", mock.MagicMock())
    prediction = services.prediction_create(FEATURES, channel=Prediction.Channel.API)
    answered = services.prediction_create(FEATURES, channel=Prediction.Channel.API)
    services.feedback_create(prediction_id=answered.pk, actual=True)
    owner = get_user_model().objects.create_user("owner", password="x" * 20)
    dataset = DatasetImport.objects.create(source="test", sha256="0" * 64)
    monitoring_run = MonitoringRun.objects.create(status="ok")
    html = settings.REPORTS_DIR / "data_drift" / "r.html"
    html.parent.mkdir(parents=True)
    html.write_text("<html><body>report</body></html>")
    report = MonitoringReport.objects.create(
        run=monitoring_run,
        kind="data_drift",
        status="ok",
        html_path="data_drift/r.html",
        model_version=active_model,
    )
    run = RetrainRun.objects.create(trigger="manual", decision="skipped_no_trigger")
    access = {"user_agent": "x", "ip_address": "10.0.0.1", "username": "owner", "path_info": "/"}
    objects = {
        "auth.group": Group.objects.create(name="analysts").pk,
        "auth.user": owner.pk,
        "authtoken.tokenproxy": Token.objects.create(user=owner).user_id,
        "axes.accessattempt": AccessAttempt.objects.create(
            **access, get_data="", post_data="", failures_since_start=1
        ).pk,
        "axes.accesslog": AccessLog.objects.create(**access).pk,
        "axes.accessfailurelog": AccessFailureLog.objects.create(**access).pk,
        "django_celery_beat.periodictask": PeriodicTask.objects.first().pk,
        "django_celery_beat.clockedschedule": ClockedSchedule.objects.create(
            clocked_time="2030-01-01T00:00:00Z"
        ).pk,
        "django_celery_beat.crontabschedule": CrontabSchedule.objects.first().pk,
        "django_celery_beat.solarschedule": SolarSchedule.objects.create(
            event="sunrise", latitude=48.85, longitude=2.35
        ).pk,
        "django_celery_beat.intervalschedule": IntervalSchedule.objects.create(
            every=5, period="minutes"
        ).pk,
        "django_celery_results.taskresult": TaskResult.objects.create(task_id="t-1").pk,
        "django_celery_results.groupresult": GroupResult.objects.create(group_id="g-1").pk,
        "training.modelversion": active_model.pk,
        "training.activationevent": ActivationEvent.objects.first().pk,
        "training.studentrecord": StudentRecord.objects.create(
            gender="Female", department="Arts", depression=False, dataset=dataset, source_row=1
        ).pk,
        "training.datasetimport": dataset.pk,
        "predictions.prediction": prediction.pk,
        "predictions.feedback": answered.feedback.pk,
        "training.retrainrun": run.pk,
        "monitoring.monitoringreport": report.pk,
        "monitoring.monitoringrun": monitoring_run.pk,
        "monitoring.alert": Alert.objects.create(
            kind="drift", severity="warning", message="m", dedup_key="k"
        ).pk,
        "privacy.accessrecord": AccessRecord.objects.create(actor="owner", via="api").pk,
        "privacy.erasure": Erasure.objects.create(
            prediction_id=uuid.uuid4(), predicted_at="2026-01-01T00:00:00Z"
        ).pk,
        "privacy.retentionrun": RetentionRun.objects.create(status="ok").pk,
    }
    return World(objects, prediction, answered, report, run)


def clients(django_user_model) -> dict[str, Client]:
    users = {
        "user": django_user_model.objects.create_user("student", password="x" * 20),
        "staff": django_user_model.objects.create_user("helper", password="x" * 20, is_staff=True),
        "superuser": django_user_model.objects.create_superuser("boss", "b@x.org", "x" * 20),
    }
    out = {"anonymous": Client()}
    for role, user in users.items():
        out[role] = Client()
        out[role].force_login(user)
    return out


# --- The table ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    url: Callable[[World], str]
    expect: tuple[int, int, int, int]  # anonymous, user, staff, superuser
    method: str = "get"
    body: Callable[[World], object] | None = None  # JSON bodies; dicts of strings are forms
    json: bool = False


def at(url: str) -> Callable[[World], str]:
    return lambda w: url


def _fresh_feedback(w: World) -> dict:
    prediction = services.prediction_create(FEATURES, channel=Prediction.Channel.API)
    return {"prediction_id": str(prediction.pk), "actual": 1}


def _page_feedback_url(w: World) -> str:
    prediction = services.prediction_create(FEATURES, channel=Prediction.Channel.FORM)
    return f"/predictions/{prediction.pk}/feedback/"


def _page_delete_url(w: World) -> str:
    prediction = services.prediction_create(FEATURES, channel=Prediction.Channel.FORM)
    return f"/predictions/{prediction.pk}/delete/"


def _csv(w: World) -> dict:
    upload = io.BytesIO(
        (",".join(FEATURES) + "\n" + ",".join(str(v) for v in FEATURES.values()) + "\n").encode()
    )
    upload.name = "rows.csv"
    return {"file": upload}


ALL_OK = (200, 200, 200, 200)
TO_LOGIN = (302, 302)  # the admin sends anonymous and non-staff users to its login page

SITE: dict[str, Case] = {
    # The public pages and API: anyone.
    "": Case(at("/"), ALL_OK),
    "predictions/batch/": Case(at("/predictions/batch/"), ALL_OK),
    "predictions/batch/template.csv": Case(at("/predictions/batch/template.csv"), ALL_OK),
    "predictions/<uuid:pk>/": Case(lambda w: f"/predictions/{w.prediction.pk}/", ALL_OK),
    "predictions/<uuid:pk>/feedback/": Case(
        _page_feedback_url, (302, 302, 302, 302), "post", lambda w: {"actual": "1"}
    ),
    "predictions/<uuid:pk>/thanks/": Case(
        lambda w: f"/predictions/{w.answered.pk}/thanks/", ALL_OK
    ),
    "models/v<int:version>/": Case(
        lambda w: f"/models/v{w.prediction.model_version.version}/", ALL_OK
    ),
    "api/predict": Case(at("/api/predict"), ALL_OK, "post", lambda w: FEATURES, json=True),
    "predict": Case(at("/predict"), ALL_OK, "post", lambda w: FEATURES, json=True),
    "api/predict/batch": Case(at("/api/predict/batch"), ALL_OK, "post", _csv),
    "api/feedback": Case(at("/api/feedback"), (201,) * 4, "post", _fresh_feedback, json=True),
    # The original API's path answers 200, the only status its client accepts.
    "feedback": Case(at("/feedback"), (200,) * 4, "post", _fresh_feedback, json=True),
    "api/health": Case(at("/api/health"), ALL_OK),
    "health": Case(at("/health"), ALL_OK),
    "privacy/": Case(at("/privacy/"), ALL_OK),
    # The student's withdrawal: whoever holds the id (a fresh prediction for each call).
    "predictions/<uuid:pk>/delete/": Case(_page_delete_url, ALL_OK, "post"),
    "i18n/setlang/": Case(at("/i18n/setlang/"), (302,) * 4, "post", lambda w: {"language": "fr"}),
    "api/schema/": Case(at("/api/schema/"), ALL_OK),
    "api/docs/": Case(at("/api/docs/"), ALL_OK),
    # Staff only: stored predictions (401 with a Token challenge; staff need the model
    # permission predictions.view_prediction, as in the admin) and retrains.
    "api/predictions/<uuid:pk>": Case(
        lambda w: f"/api/predictions/{w.prediction.pk}", (401, 403, 403, 200)
    ),
    "api/retrain": Case(at("/api/retrain"), (403, 403, 202, 202), "post", lambda w: {}, json=True),
    "api/retrain/<int:pk>": Case(lambda w: f"/api/retrain/{w.run.pk}", (403, 403, 200, 200)),
    # A bearer token, not a session (test_metrics.py proves the token).
    "metrics": Case(at("/metrics"), (403,) * 4),
    # The admin's own pages.
    "admin/": Case(at("/admin/"), (*TO_LOGIN, 200, 200)),
    "admin/login/": Case(at("/admin/login/"), (200, 200, 302, 302)),
    # Signing out: staff get the "logged out" page; others are sent back to the admin.
    "admin/logout/": Case(at("/admin/logout/"), (302, 302, 200, 200), "post", lambda w: {}),
    "admin/password_change/": Case(at("/admin/password_change/"), (*TO_LOGIN, 200, 200)),
    "admin/password_change/done/": Case(at("/admin/password_change/done/"), (*TO_LOGIN, 200, 200)),
    "admin/autocomplete/": Case(at("/admin/autocomplete/"), (*TO_LOGIN, 403, 403)),
    "admin/jsi18n/": Case(at("/admin/jsi18n/"), (*TO_LOGIN, 200, 200)),
    "admin/r/<path:content_type_id>/<path:object_id>/": Case(
        at("/admin/r/1/1/"), (*TO_LOGIN, 404, 404)
    ),
    "admin/^(?P<app_label>auth|authtoken|axes|django_celery_beat|django_celery_results"
    "|training|predictions|monitoring|privacy)/$": Case(
        at("/admin/training/"), (*TO_LOGIN, 404, 200)
    ),
    "admin/(?P<url>.*)$": Case(at("/admin/no-such-page/"), (*TO_LOGIN, 404, 404)),
    "admin/auth/user/<id>/password/": Case(
        lambda w: f"/admin/auth/user/{w.objects['auth.user']}/password/", (*TO_LOGIN, 403, 200)
    ),
    # MindPulse's own admin views.
    "admin/training/retrainrun/retrain/": Case(
        at("/admin/training/retrainrun/retrain/"), (*TO_LOGIN, 403, 200)
    ),
    "admin/monitoring/monitoringreport/<int:pk>/report/": Case(
        lambda w: f"/admin/monitoring/monitoringreport/{w.report.pk}/report/",
        (*TO_LOGIN, 403, 200),
    ),
    "admin/monitoring/monitoringreport/<int:pk>/report/html/": Case(
        lambda w: f"/admin/monitoring/monitoringreport/{w.report.pk}/report/html/",
        (*TO_LOGIN, 403, 200),
    ),
    "admin/monitoring/monitoringreport/run/": Case(
        at("/admin/monitoring/monitoringreport/run/"), (*TO_LOGIN, 403, 302), "post", lambda w: {}
    ),
    "admin/monitoring/overview/": Case(at("/admin/monitoring/overview/"), (*TO_LOGIN, 403, 200)),
    "admin/privacy/privacyreport/": Case(
        at("/admin/privacy/privacyreport/"), (*TO_LOGIN, 403, 200)
    ),
}


@dataclasses.dataclass(frozen=True)
class ModelAdmin:
    """What a superuser gets from a registered model's admin pages (staff without the
    permission get 403, anonymous and non-staff users the login page)."""

    changelist: int = 200
    add: int = 200
    history: int = 200
    delete: int = 200
    change: int = 200


EDITABLE = ModelAdmin()
READ_ONLY = ModelAdmin(add=403, delete=403)  # change: 200, the view-only page
MODEL_ADMINS: dict[str, ModelAdmin] = {
    "auth.group": EDITABLE,
    "auth.user": EDITABLE,
    "authtoken.tokenproxy": EDITABLE,
    "axes.accessattempt": ModelAdmin(add=403),
    "axes.accesslog": ModelAdmin(add=403),
    "axes.accessfailurelog": ModelAdmin(add=403),
    "django_celery_beat.periodictask": EDITABLE,
    "django_celery_beat.clockedschedule": EDITABLE,
    "django_celery_beat.crontabschedule": EDITABLE,
    "django_celery_beat.solarschedule": EDITABLE,
    "django_celery_beat.intervalschedule": EDITABLE,
    "django_celery_results.taskresult": EDITABLE,
    "django_celery_results.groupresult": EDITABLE,
    "training.modelversion": READ_ONLY,
    "training.activationevent": READ_ONLY,
    "training.studentrecord": READ_ONLY,
    "training.datasetimport": READ_ONLY,
    "training.retrainrun": READ_ONLY,
    "monitoring.monitoringreport": READ_ONLY,
    "monitoring.monitoringrun": READ_ONLY,
    "monitoring.alert": READ_ONLY,
    "predictions.prediction": READ_ONLY,
    "predictions.feedback": READ_ONLY,
    # Superusers only (staff get 403 like any model they have no permission on).
    "privacy.accessrecord": READ_ONLY,
    "privacy.erasure": READ_ONLY,
    "privacy.retentionrun": READ_ONLY,
}
# Not a model's pages: the overview's admin has only its chart page (in SITE).
NO_MODEL_PAGES = {"monitoring.overview", "privacy.privacyreport"}


def model_cases(label: str, access: ModelAdmin) -> dict[str, Case]:
    app_label, model = label.split(".")
    base = f"admin/{app_label}/{model}/"

    def obj(suffix):
        return lambda w: f"/{base}{w.objects[label]}/{suffix}"

    return {
        base: Case(at(f"/{base}"), (*TO_LOGIN, 403, access.changelist)),
        f"{base}add/": Case(at(f"/{base}add/"), (*TO_LOGIN, 403, access.add)),
        f"{base}<path:object_id>/history/": Case(obj("history/"), (*TO_LOGIN, 403, access.history)),
        f"{base}<path:object_id>/delete/": Case(obj("delete/"), (*TO_LOGIN, 403, access.delete)),
        f"{base}<path:object_id>/change/": Case(obj("change/"), (*TO_LOGIN, 403, access.change)),
        # The short object URL redirects to its change page, for whoever may see the admin.
        f"{base}<path:object_id>/": Case(obj(""), (302, 302, 302, 302)),
    }


def table() -> dict[str, Case]:
    cases = dict(SITE)
    for label, access in MODEL_ADMINS.items():
        cases.update(model_cases(label, access))
    # Signing out ends the role's session: last.
    cases["admin/logout/"] = cases.pop("admin/logout/")
    return cases


# --- The tests ---------------------------------------------------------------------------------


def test_it_has_an_expected_status_for_every_url_pattern():
    from django.contrib import admin

    registered = {f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry}
    assert registered - NO_MODEL_PAGES == set(MODEL_ADMINS), "a model admin is not in the table"
    missing = [route for route in routes() if route not in table()]
    assert not missing, f"URL patterns without an expected status per role: {missing}"
    stale = sorted(set(table()) - set(routes()))
    assert not stale, f"the table names URL patterns that no longer exist: {stale}"


def _call(client: Client, case: Case, world: World):
    url = case.url(world)
    if case.method == "get":
        return client.get(url)
    body = case.body(world) if case.body else {}
    if case.json:
        return client.post(url, body, content_type="application/json")
    return client.post(url, body)


@pytest.mark.parametrize("role", ROLES)
def test_it_answers_each_role_as_the_matrix_says(role, world, django_user_model):
    client = clients(django_user_model)[role]
    column = ROLES.index(role)
    wrong = []
    for route, case in table().items():
        response = _call(client, case, world)
        if response.status_code != case.expect[column]:
            wrong.append(f"{case.method.upper()} {route}: {response.status_code}")
    assert not wrong, f"{role}: expected otherwise for\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ["anonymous", "user"])
def test_it_sends_outsiders_to_the_admin_login_page(role, world, django_user_model):
    client = clients(django_user_model)[role]
    for route, case in table().items():
        if route == "admin/logout/":
            continue
        if route.startswith("admin/") and case.expect[ROLES.index(role)] == 302:
            response = _call(client, case, world)
            if not route.endswith("<path:object_id>/"):
                assert response["Location"].startswith("/admin/login/"), route
