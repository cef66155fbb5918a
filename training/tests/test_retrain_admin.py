"""The admin: Retrain now, rollback ("Activate this version"), and what a run's page shows."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from kombu import Connection

from mindpulse.celery import app
from training import services, serving
from training.models import ActivationEvent, ModelVersion, RetrainRun

pytestmark = pytest.mark.django_db

VERSIONS = "/admin/training/modelversion/"
RUNS = "/admin/training/retrainrun/"
RETRAIN_NOW = "/admin/training/retrainrun/retrain/"


@pytest.fixture
def sent(monkeypatch):
    messages = []
    monkeypatch.setattr(app, "send_task", lambda name, **kw: messages.append((name, kw)))
    return messages


def _client(*, staff, perms=()):
    user = get_user_model().objects.create_user("u", password="x" * 20, is_staff=staff)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client, user


@pytest.fixture
def two_versions(active_model, trained_outcome):
    """v1 was in service, then v2 was promoted over it."""
    second = services.model_register(trained_outcome)
    services.model_activate(second, reason="promotion")
    active_model.refresh_from_db()
    return active_model, second


def _activate(client, version, follow=False, **extra):
    data = {"action": "activate_version", "_selected_action": [version.pk], **extra}
    return client.post(VERSIONS, data, follow=follow)


def test_it_rolls_back_for_the_next_prediction(admin_client, admin_user, two_versions):
    first, second = two_versions
    assert serving.get_active_model().version == second.version
    page = _activate(admin_client, first)
    assert page.status_code == 200 and b"Activate v1" in page.content
    assert serving.get_active_model().version == second.version  # nothing yet: a form
    response = _activate(admin_client, first, apply="yes", reason="v2 flags too many students")
    assert response.status_code == 302
    assert serving.get_active_model().version == first.version
    event = ActivationEvent.objects.filter(version=first).first()
    assert event.activated_by == admin_user and event.previous_id == second.pk
    assert event.reason == "admin: v2 flags too many students"
    second.refresh_from_db()
    assert second.status == "retired"


def test_it_requires_a_reason_to_roll_back(admin_client, two_versions):
    first, second = two_versions
    response = _activate(admin_client, first, apply="yes", reason="")
    assert response.status_code == 200 and b"This field is required" in response.content
    assert ModelVersion.objects.get(status="active").pk == second.pk


def test_it_activates_exactly_one_selected_version(admin_client, two_versions):
    first, second = two_versions
    data = {"action": "activate_version", "_selected_action": [first.pk, second.pk]}
    response = admin_client.post(VERSIONS, data, follow=True)
    assert b"Select exactly one version" in response.content
    assert ModelVersion.objects.get(status="active").pk == second.pk


def test_it_refuses_to_roll_back_to_a_tampered_file(admin_client, two_versions, settings):
    first, second = two_versions
    path = settings.ARTIFACTS_DIR / first.artifact_path
    path.write_bytes(path.read_bytes()[:-10])
    response = _activate(admin_client, first, apply="yes", reason="try", follow=True)
    assert b"was not activated" in response.content
    assert ModelVersion.objects.get(status="active").pk == second.pk


def test_it_refuses_rollback_to_staff_without_the_change_permission(two_versions):
    first, second = two_versions
    client, _ = _client(staff=True, perms=["view_modelversion"])
    assert client.get(VERSIONS).status_code == 200
    _activate(client, first, apply="yes", reason="not allowed")
    assert ModelVersion.objects.get(status="active").pk == second.pk
    client, _ = _client_with("change_modelversion", "view_modelversion")
    _activate(client, first, apply="yes", reason="allowed")
    assert ModelVersion.objects.get(status="active").pk == first.pk


def _client_with(*perms):
    user = get_user_model().objects.create_user("granted", password="x" * 20, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client, user


def test_it_refuses_rollback_to_non_staff(two_versions):
    first, second = two_versions
    client, _ = _client(staff=False)
    response = _activate(client, first, apply="yes", reason="nope")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert ModelVersion.objects.get(status="active").pk == second.pk


def test_it_shows_the_activation_history(admin_client, two_versions):
    first, _ = two_versions
    page = admin_client.get(f"{VERSIONS}{first.pk}/change/")
    assert page.status_code == 200
    assert b"Activation history" in page.content and b"test fixture" in page.content


def test_it_queues_a_retrain_now(admin_client, admin_user, sent):
    assert b"Retrain now" in admin_client.get(RUNS).content
    assert admin_client.get(RETRAIN_NOW).status_code == 200
    response = admin_client.post(RETRAIN_NOW, {"note": "after the exam period"})
    run = RetrainRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{RUNS}{run.pk}/change/"
    assert run.decision == "queued" and run.requested_by == admin_user
    assert run.note == "after the exam period"
    assert sent[0][0] == "training.tasks.retrain" and sent[0][1]["kwargs"]["run_id"] == run.pk


def test_it_queues_a_retrain_without_a_note(admin_client, sent):
    assert admin_client.post(RETRAIN_NOW, {}).status_code == 302
    assert RetrainRun.objects.get().decision == "queued" and len(sent) == 1


def test_it_shows_an_error_when_the_broker_is_down(admin_client, monkeypatch):
    monkeypatch.setattr(
        app, "connection_for_write", lambda **kw: Connection("redis://127.0.0.1:1/0")
    )
    response = admin_client.post(RETRAIN_NOW, {"note": ""}, follow=True)
    assert response.status_code == 200
    assert b"task queue is unreachable" in response.content
    assert RetrainRun.objects.get().decision == "failed"


def test_it_refuses_retrain_now_to_others(sent):
    client, _ = _client(staff=False)
    response = client.post(RETRAIN_NOW, {})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client, _ = _client_with()  # staff, but may not see retrain runs
    assert client.post(RETRAIN_NOW, {}).status_code == 403
    assert not RetrainRun.objects.exists() and sent == []


def test_it_shows_a_run_with_its_numbers(admin_client, active_model):
    run = RetrainRun.objects.create(
        trigger="scheduled",
        decision="rejected",
        reason="challenger roc_auc 0.6900 < 0.7000",
        triggers={"drift": {"value": 0.444, "threshold": 0.3, "rule": ">", "fired": True}},
        candidates=[
            {"algorithm": "xgboost", "winner": True, "threshold": 0.2, "test": {"roc_auc": 0.69}},
            {"algorithm": "random_forest", "in_service": True, "version": 1, "test": {}},
        ],
        step_seconds={"train": 1.25, "total": 2.5},
        champion=active_model,
        selection_metric="roc_auc",
        error="<script>alert(1)</script>",
    )
    listing = admin_client.get(RUNS)
    assert listing.status_code == 200 and b"drift" in listing.content
    page = admin_client.get(f"{RUNS}{run.pk}/change/")
    assert page.status_code == 200
    for text in (b"0.444", b"FIRED", b"v1 random_forest", b"in service", b"1.250", b"0.690"):
        assert text in page.content
    assert b"<script>alert(1)</script>" not in page.content


def test_it_refreshes_the_page_of_a_run_until_it_ends(admin_client, active_model):
    from django.utils import timezone

    run = RetrainRun.objects.create(trigger="manual", decision="queued")
    page = admin_client.get(f"{RUNS}{run.pk}/change/").content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "not finished yet (Queued)" in page

    RetrainRun.objects.filter(pk=run.pk).update(decision="rejected", finished_at=timezone.now())
    page = admin_client.get(f"{RUNS}{run.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' not in page and "not finished yet" not in page
