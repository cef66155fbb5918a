"""Batch scoring: POST /api/predict/batch (JSON list, CSV upload, raw CSV) and the batch page."""

from __future__ import annotations

import csv
import io
import json
from unittest import mock

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mindpulse.testing import batch_page_download
from predictions import batch
from predictions.models import Prediction
from training import datagen, serving

pytestmark = pytest.mark.django_db


def _csv(rows: list[dict], columns) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def spy(active_model):
    """The loaded predictor, watched: batch scoring must make one vectorised call only."""
    loaded = serving.get_active_model()
    predictor = loaded.predictor
    with (
        mock.patch.object(predictor, "predict_proba", wraps=predictor.predict_proba) as many,
        mock.patch.object(predictor, "predict_proba_one", side_effect=AssertionError) as one,
    ):
        yield many, one


def test_it_scores_a_json_list_with_per_row_errors(api, spy, features):
    rows = [features, dict(features, Age=17), dict(features, Age="x"), [1], dict(features, Foo=1)]
    response = api.post("/api/predict/batch", rows)
    assert response.status_code == 200
    body = response.json()
    assert (body["rows"], body["scored"], body["failed"]) == (5, 2, 3)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert {"prediction_id", "prediction", "probability", "warnings"} <= set(results[0])
    assert results[2]["errors"] == {"Age": ["Enter a number."]}
    assert list(results[3]["errors"]) == ["non_field_errors"]
    assert results[4]["errors"] == {"Foo": ["Unknown field."]}
    assert results[1]["warnings"][0]["feature"] == "Age"  # 17: plausible, not trained on
    stored = Prediction.objects.filter(channel=Prediction.Channel.BATCH)
    assert {str(p.pk) for p in stored} == {results[0]["prediction_id"], results[1]["prediction_id"]}
    many, one = spy
    assert many.call_count == 1 and one.call_count == 0
    assert len(many.call_args.args[0]) == 2
    loaded = serving.get_active_model()
    expected = loaded.predictor.pipeline.predict_proba(pd.DataFrame([features]))[0, 1]
    assert results[0]["probability"] == pytest.approx(expected)
    assert body["model_version"] == loaded.version and body["threshold"] == loaded.threshold


def test_it_stores_the_same_answer_as_a_single_prediction(api, active_model, features):
    single = api.post("/api/predict", features).json()
    row = api.post("/api/predict/batch", [features]).json()["results"][0]
    assert row["probability"] == pytest.approx(single["probability"], abs=1e-12)
    assert row["prediction"] == single["prediction"]


def test_it_scores_a_csv_upload_and_ignores_extra_columns(client, spy):
    frame = datagen.generate_students(20, seed=3)
    frame.loc[4, "Stress_Level"] = 11  # invalid: out of the plausible range
    data = frame.to_csv(index=False).encode()
    upload = SimpleUploadedFile("students.csv", data, content_type="text/csv")
    response = client.post("/api/predict/batch", {"file": upload})
    assert response.status_code == 200
    body = response.json()
    assert (body["rows"], body["scored"], body["failed"]) == (20, 19, 1)
    assert body["results"][4]["errors"] == {"Stress_Level": ["Enter a value between 1 and 10."]}
    assert Prediction.objects.filter(channel="batch").count() == 19
    assert spy[0].call_count == 1


def test_it_scores_a_raw_text_csv_body(client, active_model, features):
    data = _csv([features, features], list(features))
    response = client.post("/api/predict/batch", data, content_type="text/csv")
    assert response.status_code == 200
    assert response.json()["scored"] == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Age,Gender\n21,Male\n", "Missing columns"),
        (b"", "empty"),
        ("\ufeffAge".encode("utf-16"), "UTF-8"),
    ],
)
def test_it_refuses_an_unusable_csv_as_a_whole(client, active_model, data, message):
    upload = SimpleUploadedFile("x.csv", data, content_type="text/csv")
    response = client.post("/api/predict/batch", {"file": upload})
    assert response.status_code == 400
    assert message in response.json()["errors"]["non_field_errors"][0]
    assert Prediction.objects.count() == 0


def test_it_refuses_a_multipart_body_without_a_file(client, active_model):
    response = client.post("/api/predict/batch", {"other": "x"})
    assert response.status_code == 400
    assert "file" in response.json()["errors"]["non_field_errors"][0]


def test_it_refuses_more_than_10000_rows(api, active_model, features):
    response = api.post("/api/predict/batch", [features] * (batch.MAX_ROWS + 1))
    assert response.status_code == 400
    assert "10000" in response.json()["errors"]["non_field_errors"][0]
    assert Prediction.objects.count() == 0


def test_it_accepts_a_full_10000_row_batch_within_the_body_limit(api, spy, features):
    rows = [dict(features, Age=18 + i % 7) for i in range(batch.MAX_ROWS)]
    assert len(json.dumps(rows, indent=2)) < 10 * 1024 * 1024  # the default MAX_REQUEST_BYTES
    response = api.post("/api/predict/batch", rows)
    assert response.status_code == 200
    assert response.json()["scored"] == batch.MAX_ROWS
    assert Prediction.objects.filter(channel="batch").count() == batch.MAX_ROWS
    assert spy[0].call_count == 1


def test_it_answers_503_to_a_batch_without_a_model(api, features):
    assert api.post("/api/predict/batch", [features]).status_code == 503


# --- The page ------------------------------------------------------------------------------


def test_it_downloads_the_scored_csv_with_the_original_columns(client, active_model, features):
    rows = [
        dict(features, Student_ID="1", Depression="0"),
        dict(features, Student_ID='=HYPERLINK("x")', Depression="-1", Age="abc"),
        dict(features, Student_ID="@cmd", Depression="+x", CGPA="-3"),
    ]
    columns = ["Student_ID", *features, "Depression"]
    upload = SimpleUploadedFile("in.csv", _csv(rows, columns), content_type="text/csv")
    response = client.post("/predictions/batch/", {"file": upload})
    assert response.status_code == 200
    out = list(csv.DictReader(io.StringIO(batch_page_download(response))))
    assert list(out[0]) == [*columns, "probability", "prediction", "error"]
    assert out[0]["Student_ID"] == "1" and out[0]["error"] == ""
    assert 0 <= float(out[0]["probability"]) <= 1 and out[0]["prediction"] in {"0", "1"}
    # Invalid rows: their error, no prediction; formulas neutralised, numbers kept.
    assert out[1]["probability"] == "" and out[1]["error"] == "Age: Enter a number."
    assert out[1]["Student_ID"] == '\'=HYPERLINK("x")' and out[1]["Depression"] == "-1"
    assert out[2]["Student_ID"] == "'@cmd" and out[2]["Depression"] == "'+x"
    assert out[2]["CGPA"] == "-3" and out[2]["error"].startswith("CGPA: Enter a value between")
    assert Prediction.objects.filter(channel="batch").count() == 1


def test_it_sums_up_the_scored_file_on_the_page(client, active_model, features):
    rows = [
        features,
        dict(features, Stress_Level="10", Sleep_Duration="3"),
        dict(features, Age="abc"),
        dict(features, Gender="Robot"),
    ]
    upload = SimpleUploadedFile("in.csv", _csv(rows, list(features)), content_type="text/csv")
    response = client.post("/predictions/batch/", {"file": upload})
    assert response.status_code == 200
    summary = response.context["summary"]
    stored = Prediction.objects.filter(channel="batch")
    assert (summary["rows"], summary["scored"], summary["refused_count"]) == (4, 2, 2)
    assert summary["positives"] == stored.filter(label=True).count()
    assert [r["line"] for r in summary["refused"]] == [4, 5]  # the header is line 1
    assert summary["refused"][0]["why"] == "Age: Enter a number."
    assert summary["refused"][1]["why"].startswith("Gender: ")
    page = response.content.decode()
    assert f'data-testid="positives">{summary["positives"]}<' in page
    assert "Age: Enter a number." in page
    out = list(csv.DictReader(io.StringIO(batch_page_download(response))))
    assert [r["prediction"] for r in out[:2]] == [
        str(int(p.label)) for p in stored.order_by("created_at")
    ]


def test_it_lists_the_first_50_refused_rows_and_counts_the_rest(client, active_model, features):
    rows = [dict(features, Age="abc")] * 60 + [features]
    upload = SimpleUploadedFile("in.csv", _csv(rows, list(features)), content_type="text/csv")
    summary = client.post("/predictions/batch/", {"file": upload}).context["summary"]
    assert (summary["scored"], summary["refused_count"]) == (1, 60)
    assert len(summary["refused"]) == 50 and summary["refused_more"] == 10


def test_it_offers_the_template_and_the_accepted_values_before_the_upload(client, active_model):
    from training.features import FEATURES

    page = client.get("/predictions/batch/")
    assert page.status_code == 200
    accepted = {row["column"]: row["accepted"] for row in page.context["accepted"]}
    # The validation's own definitions: every bound and every category appears.
    assert list(accepted) == [f.name for f in FEATURES]
    for feature in FEATURES:
        if feature.choices:
            assert all(choice in accepted[feature.name] for choice in feature.choices)
        else:
            assert f"{feature.minimum:g} to {feature.maximum:g}" in accepted[feature.name]
    template = client.get("/predictions/batch/template.csv")
    assert template["Content-Type"] == "text/csv"
    assert template["Content-Disposition"].startswith("attachment;")
    header = template.content.decode().strip().split(",")
    assert header == ["Student_ID", *(f.name for f in FEATURES)]


def test_it_refuses_only_the_header_of_the_template_until_rows_are_added(client, active_model):
    template = client.get("/predictions/batch/template.csv").content
    upload = SimpleUploadedFile("template.csv", template, content_type="text/csv")
    response = client.post("/predictions/batch/", {"file": upload})
    assert response.status_code == 400
    assert "has a header but no rows" in response.content.decode()


def test_it_shows_the_error_of_an_unusable_file_on_the_page(client, active_model):
    upload = SimpleUploadedFile("in.csv", b"Age\n21\n", content_type="text/csv")
    response = client.post("/predictions/batch/", {"file": upload})
    assert response.status_code == 400
    assert "Missing columns" in response.content.decode()


def test_it_says_the_batch_page_is_not_ready_without_a_model(client, db):
    response = client.get("/predictions/batch/")
    assert "not ready" in response.content.decode()


def test_it_neutralises_only_text_cells():
    assert batch._neutralise("=1+1") == "'=1+1"
    assert batch._neutralise("-2.5") == "-2.5"
    assert batch._neutralise("+7") == "+7"
    assert batch._neutralise("-") == "'-"
    assert batch._neutralise("\tx") == "'\tx"
    assert batch._neutralise("plain") == "plain"
