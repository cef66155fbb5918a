"""Privacy: a prediction record holds the nine answers and the model's output, never a name,
an e-mail address or an address of the client. (What the logs hold: privacy/tests/test_logs.py.)"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from mindpulse.testing import DISTINCTIVE, batch_page_download
from predictions.models import Feedback, Prediction

pytestmark = pytest.mark.django_db


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
    assert "ann@example.org" in batch_page_download(response)  # handed back, as uploaded
    (prediction,) = Prediction.objects.all()
    stored = json.dumps(model_to_dict(prediction), default=str)
    for identifying in ("S-77", "Ann Example", "ann@example.org"):
        assert identifying not in stored
