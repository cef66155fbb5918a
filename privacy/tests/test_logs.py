"""Minimisation in the plumbing: no client address and no answer in the logs, the error
reports or django-axes' records. The one log-scrubbing module: the services' and tasks' own
lines (batch scoring, feedback, a monitoring run, a retrain, an export), then the whole run.

The last test of every run (conftest.py sorts it last) greps every line the whole run logged,
as both production formatters write it, plus the logs of the worker processes it started.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.core.management import call_command
from django.test import Client

from mindpulse.testing import DISTINCTIVE, RUN_LOG, SECRETS
from predictions import services

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.58"  # TEST-NET-3: no real client
# An IPv4 address that is not a server's (host:port, inside a URL, or libpq's `server at "IP"`).
IPV4 = re.compile(r"(?<![\w.:/@-])(?<!at \")(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|:\d)")
# A feature's name followed by a value, as a dict, JSON or key=value would print it.
FEATURE_VALUE = re.compile(
    r"(?i)\b(?:age|gender|department|cgpa|sleep_duration|study_hours|social_media_hours|"
    r"physical_activity|stress_level)\b['\"]?\s*[:=]\s*['\"]?[\w.-]+"
)


def test_it_keeps_the_address_and_the_answers_out_of_error_reports(
    active_model, monkeypatch, settings
):
    settings.ADMINS = [("Admin", "admin@example.org")]

    def broken(*args, **kwargs):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(services, "prediction_create", broken)
    client = Client(REMOTE_ADDR=ADDRESS, raise_request_exception=False)
    form = {**{k: str(v) for k, v in DISTINCTIVE.items()}, "consent": "on"}
    assert client.post("/", form).status_code == 500
    (report,) = mail.outbox
    text = report.body + "".join(str(a[1]) for a in report.alternatives)
    assert "the model fell over" in text  # the report still says what went wrong
    assert ADDRESS not in text and not any(secret in text for secret in SECRETS)
    assert "MINDPULSE_CLIENT_KEY" in text  # the pseudonym, to tell clients apart


def test_it_stores_a_pseudonym_not_the_address_in_the_login_records(db, settings):
    settings.AXES_FAILURE_LIMIT = 50
    client = Client(REMOTE_ADDR=ADDRESS)
    client.post("/admin/login/", {"username": "nobody", "password": "wrong-password-1"})
    attempt = AccessAttempt.objects.get()
    assert attempt.ip_address != ADDRESS and attempt.ip_address.startswith("fd")
    again = Client(REMOTE_ADDR=ADDRESS)
    again.post("/admin/login/", {"username": "nobody", "password": "wrong-password-2"})
    assert AccessAttempt.objects.get().failures_since_start == 2  # the same client, counted


def test_it_logs_no_answer_in_services_and_tasks(
    active_model, reference_data, caplog, settings, tmp_path
):
    """Batch scoring, feedback (with the retrain trigger), a monitoring run and a retrain, at
    DEBUG level: every line, as both formatters write it, is free of the answers."""
    from monitoring import services as monitoring_services
    from training import retrain

    settings.RETRAIN_THRESHOLD = 1
    settings.MIN_LABELLED_ROWS = 5
    settings.RETRAIN_NICE = 0
    caplog.set_level(logging.DEBUG)
    before = len(RUN_LOG.lines)
    predictions = services.prediction_create_many([DISTINCTIVE] * 40)
    for prediction in predictions[:30]:
        services.feedback_create(prediction_id=prediction.pk, actual=prediction.label)
    monitoring_services.reports_run(trigger="test")
    run = retrain.model_retrain(trigger="manual", force=True)
    assert run.rows_production == 30
    call_command("export_data", out=str(tmp_path), verbosity=0)

    messages = {record.getMessage().split()[0] for record in caplog.records}
    assert {"monitoring_run_finished", "retrain_candidate"} <= messages  # the services logged
    lines = RUN_LOG.lines[before:]
    assert any("retrain_candidate" in line for line in lines)  # ...and RUN_LOG has them
    leaked = _leaks(lines)
    assert not leaked, "\n".join(leaked[:5])
    # ...while the answers did reach the files that are meant to hold them.
    exported = (tmp_path / "prod_data.csv").read_text()
    assert "3.1415926" in exported


def test_it_logs_no_client_address_nor_answer_in_the_whole_run(
    active_model, caplog, tmp_path_factory, settings
):
    """Every request path a student uses, at DEBUG level, from a distinctive address; then
    every line of the run so far, and the logs of the worker processes it started."""
    caplog.set_level(logging.DEBUG)
    student = Client(REMOTE_ADDR=ADDRESS, HTTP_X_FORWARDED_FOR=ADDRESS)
    flat = {k: str(v) for k, v in DISTINCTIVE.items()}
    student.post("/", flat)  # no consent
    student.post("/", {**flat, "consent": "on"})
    student.post("/", {**flat, "Age": "12"})  # refused
    kept = student.post("/api/predict", DISTINCTIVE, "application/json").json()["prediction_id"]
    student.post("/api/predict", {**DISTINCTIVE, "store": False}, "application/json")
    student.post("/api/predict", {**DISTINCTIVE, "CGPA": 31.415926}, "application/json")  # 400
    student.post(
        "/api/feedback",
        {"features": DISTINCTIVE, "prediction": 1, "actual": 1},
        "application/json",
    )
    csv = ",".join(DISTINCTIVE) + "\n" + ",".join(flat.values()) + "\n"
    upload = io.BytesIO(csv.encode())
    upload.name = "class.csv"
    student.post("/predictions/batch/", {"file": upload})
    student.post(f"/predictions/{kept}/feedback/", {"actual": "1"})
    student.delete(f"/api/predictions/{kept}")
    student.get("/no-such-page")
    student.post("/admin/login/", {"username": "x", "password": "wrong-password-3"})

    lines = list(RUN_LOG.lines)
    base = tmp_path_factory.getbasetemp()
    lines += [
        line
        for path in base.rglob("*.log")
        for line in path.read_text(errors="replace").splitlines()
    ]
    assert any("request" in line and "/api/predict" in line for line in lines)  # it captured
    leaked = _leaks(lines)
    assert not leaked, "\n".join(leaked[:5])


def _leaks(lines: list[str]) -> list[str]:
    """The lines that hold the test's address, an answer, any client address or a feature's
    value."""
    return [
        line
        for line in lines
        if ADDRESS in line
        or any(secret in line for secret in SECRETS)
        or IPV4.search(line)
        or FEATURE_VALUE.search(line)
    ]
