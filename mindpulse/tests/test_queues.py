"""Queues by kind of work: retrains, reports and light tasks never wait behind each other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celery.schedules import crontab
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from conftest import start_worker
from mindpulse import beat, queues
from mindpulse.celery import app
from monitoring import alert_rules as rules
from monitoring import alerts
from monitoring import task_names as monitoring_names
from monitoring.models import Alert
from monitoring.tests.webhook_server import WebhookServer
from training import retrain
from training import task_names as training_names
from training.models import RetrainRun
from training.tests.conftest import add_labelled


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_it_routes_each_kind_of_work_to_its_queue(settings):
    settings.CELERY_TRAINING_QUEUE = "t-queue"
    settings.CELERY_MONITORING_QUEUE = "m-queue"
    settings.CELERY_TASK_DEFAULT_QUEUE = "d-queue"
    assert _queue_of("training.tasks.retrain") == "t-queue"
    assert _queue_of("monitoring.tasks.run_reports") == "m-queue"
    assert _queue_of("monitoring.deliver_alert") == "d-queue"
    assert _queue_of("monitoring.check_alerts") == "d-queue"


def test_it_expires_a_periodic_message_just_under_its_period():
    now = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
    six_hours = crontab(minute="0", hour="*/6")
    assert queues.expire_seconds(six_hours, now) == int(6 * 3600 * 0.95)
    # Weekdays at 09:00 and 17:00: the shortest gap (8 hours) bounds the expiry.
    twice = crontab(minute="0", hour="9,17", day_of_week="mon-fri")
    assert queues.expire_seconds(twice, now) == int(8 * 3600 * 0.95)


@pytest.mark.django_db
def test_it_gives_every_periodic_task_an_expiry_when_beat_starts_and_sets_edits_back(beat_rows):
    names = [training_names.RETRAIN, monitoring_names.RUN_REPORTS, monitoring_names.CHECK_ALERTS]
    rows = {t.task: t for t in PeriodicTask.objects.filter(task__in=names)}
    assert set(rows) == set(names)
    assert rows["monitoring.tasks.run_reports"].expire_seconds == int(6 * 3600 * 0.95)
    assert rows["training.tasks.retrain"].expire_seconds == int(24 * 3600 * 0.95)
    assert rows["monitoring.check_alerts"].expire_seconds == int(3600 * 0.95)

    PeriodicTask.objects.filter(task="training.tasks.retrain").update(expire_seconds=None)
    PeriodicTask.objects.filter(task="monitoring.check_alerts").update(expire_seconds=60)
    call_command("migrate", verbosity=0)
    rows = {t.task: t for t in PeriodicTask.objects.filter(task__in=names)}
    assert rows["training.tasks.retrain"].expire_seconds is None  # migrate writes no schedule
    assert rows["monitoring.check_alerts"].expire_seconds == 60
    beat.rows_write()  # what beat does when it starts: the schedule in code wins
    rows = {t.task: t for t in PeriodicTask.objects.filter(task__in=names)}
    assert rows["training.tasks.retrain"].expire_seconds == int(24 * 3600 * 0.95)
    assert rows["monitoring.check_alerts"].expire_seconds == int(3600 * 0.95)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_it_delivers_an_alert_while_a_retrain_runs(
    celery_queues, active_model, reference_data, settings, monkeypatch
):
    """Two real workers, as docker-compose runs them: worker-training on the training queue and
    worker on default + monitoring. The retrain sleeps in training (a test-only hook); an
    alert raised meanwhile is delivered to the webhook before the retrain ends."""
    add_labelled(40, seed=61)
    with WebhookServer() as server:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", server.url)  # read by the workers at start
        settings.ALERT_WEBHOOK_URL = server.url
        monkeypatch.setenv("RETRAIN_TEST_PAUSE_SECONDS", "120")
        training = start_worker(settings, celery_queues, ["training"], name="training")
        monkeypatch.delenv("RETRAIN_TEST_PAUSE_SECONDS")
        try:
            light = start_worker(settings, celery_queues, ["default", "monitoring"], name="light")
            try:
                queued = retrain.retrain_request(note="a long retrain")
                training.wait_for(lambda: "retrain_candidate" in training.output(), timeout=120)

                alert = alerts.alert_raise(rules.Finding(rules.DRIFT, "warning", "drifted")).alert

                def delivered():
                    alert.refresh_from_db()
                    return alert.delivery.get("webhook", {}).get("status") == "delivered"

                light.wait_for(delivered, timeout=60)
                assert RetrainRun.objects.get(pk=queued.pk).decision == "running"
                assert len(server.received) == 1
                assert "task=training.tasks.retrain" not in light.output()
                assert Alert.objects.count() == 1
            finally:
                light.stop()
        finally:
            training.kill()
