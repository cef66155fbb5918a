"""Alert delivery: e-mail and webhook, every attempt recorded, retried with backoff.

Most tests run the delivery task eagerly (Celery then runs each retry at once, without the
countdown); the worker test runs it through a real worker, countdowns included.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import OperationalError

from mindpulse.celery import app
from monitoring import alert_rules as rules
from monitoring import alert_tasks, alerts, delivery
from monitoring.models import Alert

from .webhook_server import WebhookServer

pytestmark = pytest.mark.django_db


class FailingEmailBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused the connection")


@pytest.fixture
def eager():
    """Run queued tasks in-process, retries included (countdowns are skipped when eager)."""
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def webhook(settings):
    def start(*statuses, delay=0.0):
        server = WebhookServer(statuses, delay=delay).__enter__()
        started.append(server)
        settings.ALERT_WEBHOOK_URL = server.url
        return server

    started: list[WebhookServer] = []
    yield start
    for server in started:
        server.__exit__(None, None, None)


def finding(kind=rules.DRIFT) -> rules.Finding:
    return rules.Finding(kind, "warning", "Data drift: 44% of the features drifted.")


def raise_committed(django_capture_on_commit_callbacks, f=None) -> Alert:
    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.alert_raise(f or finding()).alert
    alert.refresh_from_db()
    return alert


def test_it_delivers_to_every_configured_channel(
    settings, eager, webhook, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.org")]
    server = webhook()
    alert = raise_committed(django_capture_on_commit_callbacks)

    assert set(alert.delivery) == {"email", "webhook"}
    for entry in alert.delivery.values():
        assert entry["status"] == "delivered" and entry["attempts"] == 1
        assert entry["delivered_at"] and entry["last_error"] == ""
    (message,) = mail.outbox
    assert message.to == ["ops@example.org"] and "drift" in message.subject
    (received,) = server.received
    assert received["content_type"] == "application/json"
    assert received["body"]["text"].startswith("[WARNING] drift: Data drift")
    assert received["body"]["attachments"][0]["fields"][0] == {
        "title": "Kind",
        "value": "drift",
        "short": True,
    }


def test_it_retries_a_failed_webhook_and_records_each_attempt(
    eager, webhook, django_capture_on_commit_callbacks
):
    server = webhook(500)
    alert = raise_committed(django_capture_on_commit_callbacks)

    entry = alert.delivery["webhook"]
    assert entry["status"] == "delivered" and entry["attempts"] == 2
    assert entry["last_error"] == "DeliveryError: HTTP 500 Internal Server Error"
    assert len(server.received) == 2


def test_it_marks_a_channel_failed_when_retries_run_out_then_the_check_retries_it(
    eager, webhook, django_capture_on_commit_callbacks
):
    server = webhook(*[503] * (alert_tasks.MAX_RETRIES + 1))
    alert = raise_committed(django_capture_on_commit_callbacks)

    entry = alert.delivery["webhook"]
    assert entry["status"] == "failed"
    assert entry["attempts"] == alert_tasks.MAX_RETRIES + 1 == len(server.received)
    assert "HTTP 503" in entry["last_error"]

    # Never lost: the hourly check queues it again, and the webhook answers this time.
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.check()["requeued"] == 1
    alert.refresh_from_db()
    assert alert.delivery["webhook"]["status"] == "delivered"
    assert alert.delivery["webhook"]["attempts"] == alert_tasks.MAX_RETRIES + 2


def test_it_records_a_webhook_that_does_not_answer_in_time(
    settings, eager, webhook, django_capture_on_commit_callbacks
):
    settings.ALERT_WEBHOOK_TIMEOUT = 0.3
    webhook(*[200] * 10, delay=1.0)
    alert = raise_committed(django_capture_on_commit_callbacks)
    entry = alert.delivery["webhook"]
    assert entry["status"] == "failed" and "timed out" in entry["last_error"].lower()


def test_it_never_puts_the_webhook_secret_in_the_recorded_error(
    settings, eager, django_capture_on_commit_callbacks
):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/services/T0/B0/very-secret"  # port 9: closed
    alert = raise_committed(django_capture_on_commit_callbacks)
    entry = alert.delivery["webhook"]
    assert entry["status"] == "failed" and "unreachable" in entry["last_error"]
    assert "very-secret" not in str(alert.delivery)


def test_it_records_an_email_failure_and_retries_it(
    settings, eager, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.org")]
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    alert = raise_committed(django_capture_on_commit_callbacks)
    entry = alert.delivery["email"]
    assert entry["status"] == "failed" and entry["attempts"] == alert_tasks.MAX_RETRIES + 1
    assert "ConnectionRefusedError" in entry["last_error"]


def test_it_does_not_send_a_repeat_of_an_open_alert(
    settings, eager, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.org")]
    raise_committed(django_capture_on_commit_callbacks)
    raise_committed(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and Alert.objects.get().repeats == 1


def test_it_records_an_unreachable_broker_without_failing_the_caller(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.org")]

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(alert_tasks.deliver_alert, "apply_async", broker_down)
    alert = raise_committed(django_capture_on_commit_callbacks)
    assert alert.delivery["email"]["status"] == "not_queued"
    assert "Connection refused" in alert.delivery["email"]["last_error"]


def test_it_sends_nothing_twice_when_a_message_is_delivered_again(
    settings, django_capture_on_commit_callbacks
):
    settings.ADMINS = [("Ops", "ops@example.org")]
    alert = alerts.alert_raise(finding()).alert  # not committed: nothing queued
    assert delivery.deliver(alert.pk, "email", final=False) == "delivered"
    assert delivery.deliver(alert.pk, "email", final=False) == "already delivered"
    assert len(mail.outbox) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_failing_task_raises_an_alert_delivered_by_the_worker(
    request, monkeypatch, django_capture_on_commit_callbacks
):
    """A real task failing in a real worker: the signal raises the alert, the worker delivers
    it to the webhook, which fails once, so the real retry (backoff countdown) delivers it.

    The failing task is monitoring.check_alerts sent with an argument it does not take: an
    existing task (a test-only task would be unknown to the worker) failing the way any task
    fails, through Celery's task_failure signal.
    """
    with WebhookServer([500]) as server:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", server.url)  # read by the worker at start
        worker = request.getfixturevalue("celery_worker_process")
        app.send_task("monitoring.check_alerts", kwargs={"unexpected": True})

        alert = worker.wait_for(lambda: Alert.objects.filter(kind=rules.TASK_FAILED).first(), 60)
        assert alert.dedup_key == "task_failed:monitoring.check_alerts"
        assert "TypeError" in alert.message

        def delivered():
            alert.refresh_from_db()
            return alert.delivery.get("webhook", {}).get("status") == "delivered"

        worker.wait_for(delivered, 60)
        assert alert.delivery["webhook"]["attempts"] == 2
        assert "HTTP 500" in alert.delivery["webhook"]["last_error"]
        assert len(server.received) == 2
        # The worker logged one structured line per task run, failures included.
        lines = [line for line in worker.output().splitlines() if " mindpulse.task task " in line]
        assert any(
            "task=monitoring.check_alerts" in line and "state=FAILURE" in line for line in lines
        )
        assert any(
            "task=monitoring.deliver_alert" in line and "state=SUCCESS" in line for line in lines
        )
