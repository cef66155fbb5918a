"""Privacy: a prediction record holds the nine answers and the model's output, never a name,
an e-mail address or an address of the client; and what the services and tasks log holds no
answer. (The request log lines are covered by test_logging.py.)"""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.test import Client

from mindpulse import logs
from predictions import services
from predictions.models import Feedback, Prediction

pytestmark = pytest.mark.django_db

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


def test_it_stores_only_answers_and_model_output_in_a_prediction():
    assert {f.name for f in Prediction._meta.get_fields()} == {
        # the nine answers
        "age",
        "gender",
        "department",
        "cgpa",
        "sleep_duration",
        "study_hours",
        "social_media_hours",
        "physical_activity",
        "stress_level",
        # what answered and how
        "id",
        "probability",
        "label",
        "threshold",
        "model_version",
        "channel",
        "warnings",
        "latency_ms",
        "created_at",
        "feedback",
        # the consent question's answer and wording version (None: not asked)
        "consent",
        "consent_version",
    }
    # source and client_key (a keyed, rotating hash, never the address): label provenance.
    assert {f.name for f in Feedback._meta.get_fields()} == {
        "id",
        "prediction",
        "actual",
        "source",
        "client_key",
        "created_at",
        "consumed_by",
    }


def test_it_keeps_identifying_columns_of_a_batch_out_of_the_database(active_model):
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["Student_ID", "Name", "Email", *DISTINCTIVE])
    writer.writerow(["S-77", "Ann Example", "ann@example.org", *DISTINCTIVE.values()])
    upload = io.BytesIO(rows.getvalue().encode())
    upload.name = "class.csv"
    response = Client().post("/predictions/batch/", {"file": upload})
    assert response.status_code == 200
    assert "ann@example.org" in response.content.decode()  # handed back, as uploaded
    (prediction,) = Prediction.objects.all()
    stored = json.dumps(model_to_dict(prediction), default=str)
    for identifying in ("S-77", "Ann Example", "ann@example.org"):
        assert identifying not in stored


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
    predictions = services.prediction_create_many([DISTINCTIVE] * 40)
    for prediction in predictions[:30]:
        services.feedback_create(prediction_id=prediction.pk, actual=prediction.label)
    monitoring_services.reports_run(trigger="test")
    run = retrain.model_retrain(trigger="manual", force=True)
    assert run.rows_production == 30
    call_command("export_data", out=str(tmp_path), verbosity=0)

    lines = [
        formatter.format(record)
        for record in caplog.records
        for formatter in (logs.JsonFormatter(), logs.KeyValueFormatter())
    ]
    messages = {record.getMessage().split()[0] for record in caplog.records}
    assert {"monitoring_run_finished", "retrain_candidate"} <= messages  # the services logged
    leaked = [line for line in lines if any(secret in line for secret in SECRETS)]
    assert not leaked, leaked[:3]
    # ...while the answers did reach the files that are meant to hold them.
    exported = (tmp_path / "prod_data.csv").read_text()
    assert "3.1415926" in exported
