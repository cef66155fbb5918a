"""Structured logs: one line per request and per task, JSON or key=value, no feature values."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from mindpulse import logs

FEATURES = {
    "Age": 21,
    "Gender": "Female",
    "Department": "Science",
    "CGPA": 3.1415,  # distinctive: must never appear in a log line
    "Sleep_Duration": 6.5,
    "Study_Hours": 4.0,
    "Social_Media_Hours": 3.0,
    "Physical_Activity": 45,
    "Stress_Level": 6,
}


def record(msg="request", **extra) -> logging.LogRecord:
    item = logging.LogRecord("mindpulse.request", logging.INFO, __file__, 1, msg, (), None)
    item.__dict__.update(extra)
    return item


def formatted(records) -> list[str]:
    """Every captured record as both formatters would write it."""
    return [f.format(r) for r in records for f in (logs.JsonFormatter(), logs.KeyValueFormatter())]


def request_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mindpulse.request"]


def test_it_writes_one_json_object_with_the_extra_fields():
    line = logs.JsonFormatter().format(record(method="POST", status=200, duration_ms=1.5))
    payload = json.loads(line)
    assert payload["level"] == "INFO" and payload["logger"] == "mindpulse.request"
    assert payload["msg"] == "request" and payload["status"] == 200
    assert payload["ts"].endswith("Z") and "\n" not in line


def test_it_writes_readable_key_values_and_quotes_what_needs_it():
    line = logs.KeyValueFormatter().format(record(path="/api/predict", reason='two "words"'))
    assert " INFO mindpulse.request request path=/api/predict " in line
    assert line.endswith('reason="two \\"words\\""')


def test_it_never_writes_the_http_request_object_whose_repr_has_the_query_string(rf):
    line = logs.JsonFormatter().format(record(request=rf.get("/x?token=secret"), status_code=404))
    assert "secret" not in line and json.loads(line)["status_code"] == 404


def test_it_drops_the_task_message_celery_attaches_to_its_lines():
    item = record("Task x[1] received", data={"kwargs": "{'CGPA': 3.1415}"})
    item.name = "celery.worker.strategy"
    assert not any("3.1415" in line for line in formatted([item]))


def test_it_logs_one_line_per_request_without_the_query_string(client, caplog, db):
    caplog.set_level(logging.INFO)
    response = client.get("/api/health?email=someone@example.org")
    (line,) = request_lines(caplog)
    assert (line.method, line.path, line.status) == ("GET", "/api/health", response.status_code)
    assert line.user == "anonymous" and line.duration_ms >= 0
    assert response["X-Request-ID"] == line.request_id
    assert not any("someone@example.org" in text for text in formatted(caplog.records))


def test_it_logs_the_user_id_of_a_signed_in_user(admin_client, admin_user, caplog):
    caplog.set_level(logging.INFO)
    admin_client.get("/admin/")
    assert request_lines(caplog)[-1].user == admin_user.pk


@pytest.mark.parametrize(
    ("given", "kept"),
    [("trace-0123456789abcdef", True), ("bad id with spaces", False), ('x"}{\n' * 3, False)],
)
def test_it_keeps_a_safe_incoming_request_id_only(client, caplog, db, given, kept):
    caplog.set_level(logging.INFO)
    response = client.get("/api/health", HTTP_X_REQUEST_ID=given)
    (line,) = request_lines(caplog)
    assert (line.request_id == given) is kept
    assert response["X-Request-ID"] == line.request_id


def test_it_tags_every_line_of_a_request_with_its_request_id(client, caplog, active_model):
    caplog.set_level(logging.INFO)
    client.post("/api/predict", FEATURES, content_type="application/json")
    request_id = request_lines(caplog)[-1].request_id
    model_loaded = [r for r in caplog.records if r.getMessage().startswith("model_loaded")]
    assert model_loaded and all(r.request_id == request_id for r in model_loaded)


@pytest.mark.parametrize("body", [FEATURES, dict(FEATURES, Age=12), {"features": FEATURES}])
def test_it_logs_no_feature_value_of_a_prediction_request(client, caplog, active_model, body):
    caplog.set_level(logging.DEBUG)
    response = client.post("/api/predict", body, content_type="application/json")
    assert response.status_code in (200, 400)
    assert "3.1415" in json.dumps(body)  # what must not leak
    lines = formatted(caplog.records)
    assert any('"path": "/api/predict"' in line for line in lines)
    assert not any("3.1415" in line for line in lines)


def test_it_logs_one_line_per_task_with_its_state_and_duration(caplog, db):
    from monitoring.alert_tasks import check_alerts

    caplog.set_level(logging.INFO)
    result = check_alerts.apply()
    (line,) = [r for r in caplog.records if r.name == "mindpulse.task"]
    assert (line.task, line.task_id, line.state) == (
        "monitoring.check_alerts",
        result.id,
        "SUCCESS",
    )
    assert line.duration_ms >= 0


def test_it_writes_json_lines_when_log_format_is_json(tmp_path):
    # The LOGGING setting as Django applies it (without loading the apps: faster).
    code = (
        "import logging.config; from django.conf import settings; "
        "logging.config.dictConfig(settings.LOGGING); "
        "logging.getLogger('mindpulse.test').warning('hello', extra={'run_id': 7})"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "LOG_FORMAT": "json",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    payload = json.loads(result.stderr.strip().splitlines()[-1])
    assert payload["msg"] == "hello" and payload["run_id"] == 7 and payload["level"] == "WARNING"
