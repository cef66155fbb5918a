"""Minimisation in the plumbing: no client address and no answer in the logs, the error
reports or django-axes' records.

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
from django.test import Client

from mindpulse.testing import RUN_LOG
from predictions import services

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.58"  # TEST-NET-3: no real client
# Answers whose digits cannot appear in a log line by chance.
DISTINCTIVE = {
    "Age": 23,
    "Gender": "Female",
    "Department": "Engineering",
    "CGPA": 3.1415926,
    "Sleep_Duration": 6.2831853,
    "Study_Hours": 2.7182818,
    "Social_Media_Hours": 1.4142135,
    "Physical_Activity": 47,
    "Stress_Level": 6,
}
SECRETS = ("1415926", "2831853", "7182818", "4142135")
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
    leaks = [
        line
        for line in lines
        if ADDRESS in line
        or any(secret in line for secret in SECRETS)
        or IPV4.search(line)
        or FEATURE_VALUE.search(line)
    ]
    assert not leaks, "\n".join(leaks[:5])
