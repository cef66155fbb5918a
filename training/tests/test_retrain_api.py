"""POST /api/retrain and GET /api/retrain/<id>: staff only, quick, and honest about the queue."""

import pytest
from django.contrib.auth import get_user_model
from kombu import Connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mindpulse.celery import app
from training import retrain
from training.models import RetrainRun

pytestmark = pytest.mark.django_db

URL = "/api/retrain"


@pytest.fixture
def sent(monkeypatch):
    """The broker connection is real; only the publish is captured, so no message is left."""
    messages = []

    def send_task(name, kwargs=None, **options):
        messages.append({"name": name, "kwargs": kwargs, **options})

    monkeypatch.setattr(app, "send_task", send_task)
    return messages


@pytest.fixture
def dead_broker(monkeypatch):
    """A broker address where nothing listens: the real connection attempt fails."""

    def connection_for_write(**kwargs):
        return Connection("redis://127.0.0.1:1/0", connect_timeout=0.5)

    monkeypatch.setattr(app, "connection_for_write", connection_for_write)


def _user(username, *, staff):
    return get_user_model().objects.create_user(username, password="x" * 20, is_staff=staff)


@pytest.fixture
def staff_client():
    client = APIClient()
    client.force_authenticate(_user("staff", staff=True))
    return client


def test_it_queues_a_retrain_for_staff(staff_client, sent):
    response = staff_client.post(URL, {"note": "new term"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = RetrainRun.objects.get(pk=body["run_id"])
    assert run.decision == body["decision"] == "queued"
    assert run.trigger == "manual" and run.requested_by.username == "staff"
    assert run.note == "new term"
    assert body["status_url"] == f"http://testserver/api/retrain/{run.pk}"
    assert response["Location"] == body["status_url"]
    assert sent == [
        {
            "name": "training.tasks.retrain",
            "kwargs": {
                "trigger": "manual",
                "run_id": run.pk,
                "requested_by_id": run.requested_by_id,
            },
            "task_id": run.task_id,
            "connection": sent[0]["connection"],
            "retry": False,
        }
    ]


def test_it_accepts_a_token(sent):
    token = Token.objects.create(user=_user("ops", staff=True))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.post(URL, {}, format="json").status_code == 202


def test_it_enforces_csrf_on_a_session(sent):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(_user("staff", staff=True))
    assert client.post(URL, {}, format="json").status_code == 403
    assert not RetrainRun.objects.exists()


def test_it_refuses_anonymous_callers(sent):
    client = APIClient()
    assert client.post(URL, {}, format="json").status_code in (401, 403)
    assert client.get(f"{URL}/1").status_code in (401, 403)
    assert not RetrainRun.objects.exists() and sent == []


def test_it_refuses_non_staff_users(sent):
    token = Token.objects.create(user=_user("student", staff=False))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.post(URL, {}, format="json").status_code == 403
    run = RetrainRun.objects.create(trigger="manual", decision="failed")
    assert client.get(f"{URL}/{run.pk}").status_code == 403
    assert RetrainRun.objects.count() == 1 and sent == []


def test_it_refuses_a_bad_token():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.post(URL, {}, format="json")
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Invalid token."
    assert not RetrainRun.objects.exists()


def test_it_answers_400_per_field(staff_client, sent):
    response = staff_client.post(URL, {"note": "x" * 501}, format="json")
    assert response.status_code == 400
    assert "note" in response.json()["errors"]
    assert not RetrainRun.objects.exists() and sent == []


def test_it_takes_json_only(staff_client, sent):
    response = staff_client.post(URL, {"note": "form"}, format="multipart")
    assert response.status_code == 415
    nested = "[" * 100_000 + "]" * 100_000
    response = staff_client.post(URL, nested, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]
    assert not RetrainRun.objects.exists() and sent == []


def test_it_answers_503_when_the_broker_is_down(staff_client, dead_broker):
    response = staff_client.post(URL, {}, format="json")
    assert response.status_code == 503
    body = response.json()
    assert "task queue is unreachable" in body["detail"]
    run = RetrainRun.objects.get(pk=body["run_id"])
    assert run.decision == "failed" and "broker" in run.reason and run.error


def test_it_reports_the_status_of_a_run(staff_client, active_model):
    run = RetrainRun.objects.create(
        trigger="scheduled",
        decision="rejected",
        triggers={"data": {"value": 5, "threshold": 1000, "fired": False}},
        champion=active_model,
        champion_score=0.7,
        challenger_score=0.69,
        new_version=active_model,
        rows_production=12,
    )
    response = staff_client.get(f"{URL}/{run.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["run_id"] == run.pk and body["decision"] == "rejected" and body["finished"]
    assert body["champion_version"] == active_model.version and body["champion_score"] == 0.7
    assert body["triggers"]["data"]["value"] == 5 and body["rows_production"] == 12
    assert body["requested_by"] is None


def test_it_says_a_queued_run_is_not_finished(staff_client, sent):
    run_id = staff_client.post(URL, {}, format="json").json()["run_id"]
    body = staff_client.get(f"{URL}/{run_id}").json()
    assert body["decision"] == "queued" and body["finished"] is False
    assert body["requested_by"] == "staff" and body["new_version"] is None


def test_it_answers_404_for_an_unknown_run(staff_client):
    assert staff_client.get(f"{URL}/999999").status_code == 404


def test_it_documents_both_operations(staff_client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "202" in schema["paths"]["/api/retrain"]["post"]["responses"]
    assert "503" in schema["paths"]["/api/retrain"]["post"]["responses"]
    assert "200" in schema["paths"]["/api/retrain/{id}"]["get"]["responses"]


def test_it_records_the_request_before_queueing(staff_client, monkeypatch):
    seen = []

    def send(run):
        seen.append(RetrainRun.objects.get(pk=run.pk).decision)

    monkeypatch.setattr(retrain, "_send", send)
    assert staff_client.post(URL, {}, format="json").status_code == 202
    assert seen == ["queued"]
