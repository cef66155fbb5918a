"""Bad input, one table: every endpoint that takes input answers a clear 4xx and stores
nothing (row counts unchanged), fast, whatever arrives; and the CSV it returns cannot run a
formula in a spreadsheet.

The schema-driven fuzzing of the same endpoints is test_schema_fuzz.py.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mindpulse.testing import SAMPLE_FEATURES
from monitoring.models import MonitoringRun
from predictions import batch, services
from predictions.models import Feedback, Prediction
from training.models import RetrainRun, StudentRecord

pytestmark = pytest.mark.django_db

FEATURES = SAMPLE_FEATURES
FORMULA = "=cmd|' /C calc'!A0"
HEADER = ",".join(FEATURES)
ROW = ",".join(str(v) for v in FEATURES.values())
SMALL_LIMIT = 4096  # MAX_REQUEST_BYTES of the size cases


def js(value) -> bytes:
    return json.dumps(value).encode()


@dataclasses.dataclass
class Bad:
    name: str
    path: str
    body: bytes | dict | None = None  # bytes: raw body; dict: a multipart or urlencoded form
    content_type: str = "application/json"
    status: int = 400
    says: str = ""  # a piece of the answer's message
    meta: dict = dataclasses.field(default_factory=dict)
    limit: int | None = None  # MAX_REQUEST_BYTES for this case
    fast: bool = False  # must be refused from its first line, before the CSV is parsed


def upload(data: bytes, name="students.csv") -> dict:
    return {"file": SimpleUploadedFile(name, data, content_type="text/csv")}


MILLION_COMMAS = b"," * 1_000_000
UTF16 = f"{HEADER}\n{ROW}\n".encode("utf-16")
LATIN1 = f"Student_ID,{HEADER}\nJosé,{ROW}\n".encode("latin-1")

CASES = [
    # --- malformed JSON
    Bad("predict: truncated JSON", "/api/predict", b'{"Age": 21,', says="JSON parse error"),
    Bad("predict: NaN", "/api/predict", b'{"Age": NaN}', says="JSON parse error"),
    Bad("predict: nested 100k deep", "/api/predict", b"[" * 100_000 + b"]" * 100_000),
    Bad("predict: a list, not an object", "/api/predict", b"[]"),
    Bad("predict: empty body", "/api/predict", b""),
    Bad("predict: not UTF-8", "/api/predict", b'{"Gender": "\xff\xfe"}'),
    Bad("batch: truncated JSON", "/api/predict/batch", b'[{"Age": 21', says="JSON parse error"),
    Bad("feedback: truncated JSON", "/api/feedback", b'{"actual": ', says="JSON parse error"),
    Bad("original /predict: truncated JSON", "/predict", b"{", says="JSON parse error"),
    # --- wrong content types
    Bad("predict: text/plain", "/api/predict", js(FEATURES), "text/plain", 415),
    Bad("predict: XML", "/api/predict", b"<Age>21</Age>", "application/xml", 415),
    Bad(
        "predict: form-encoded", "/api/predict", b"Age=21", "application/x-www-form-urlencoded", 415
    ),
    Bad("feedback: text/plain", "/api/feedback", b'{"actual": 1}', "text/plain", 415),
    Bad("batch: XML", "/api/predict/batch", b"<rows/>", "application/xml", 415),
    Bad("retrain (staff): text/plain", "/api/retrain", b"{}", "text/plain", 415),
    # --- bodies over the size limit (and a lying Content-Length)
    Bad(
        "predict: body over the limit",
        "/api/predict",
        js({**FEATURES, "Student_ID": "x" * SMALL_LIMIT}),
        status=413,
        says=str(SMALL_LIMIT),
        limit=SMALL_LIMIT,
    ),
    Bad(
        "batch: CSV body over the limit",
        "/api/predict/batch",
        f"{HEADER}\n{ROW}\n".encode() * 60,
        "text/csv",
        413,
        limit=SMALL_LIMIT,
    ),
    Bad(
        "batch page: upload over the limit",
        "/predictions/batch/",
        upload(f"{HEADER}\n{ROW}\n".encode() * 60),
        "multipart",
        413,
        limit=SMALL_LIMIT,
    ),
    Bad(
        "screening form: body over the limit",
        "/",
        {**FEATURES, "padding": "x" * SMALL_LIMIT},
        "urlencoded",
        413,
        limit=SMALL_LIMIT,
    ),
    Bad(
        "predict: malformed Content-Length",
        "/api/predict",
        js(FEATURES),
        meta={"CONTENT_LENGTH": "12abc"},
        says="Content-Length",
    ),
    # --- CSV uploads: wrong headers, encodings, a million columns
    Bad(
        "batch: wrong headers",
        "/api/predict/batch",
        b"a,b,c\n1,2,3\n",
        "text/csv",
        says="Missing columns",
    ),
    Bad("batch: UTF-16", "/api/predict/batch", UTF16, "text/csv", says="UTF-8"),
    Bad("batch: latin-1 with an accent", "/api/predict/batch", LATIN1, "text/csv", says="UTF-8"),
    Bad("batch: binary", "/api/predict/batch", bytes(range(256)) * 8, "text/csv"),
    Bad(
        "batch: header only",
        "/api/predict/batch",
        HEADER.encode() + b"\n",
        "text/csv",
        says="no rows",
    ),
    Bad(
        "batch: a million columns",
        "/api/predict/batch",
        MILLION_COMMAS,
        "text/csv",
        says="columns",
        fast=True,
    ),
    Bad(
        "batch: the nine columns, a million empty ones, 200 rows (each padded to them)",
        "/api/predict/batch",
        HEADER.encode() + MILLION_COMMAS + b"\n" + (ROW.encode() + b"\n") * 200,
        "text/csv",
        says="columns",
        fast=True,
    ),
    Bad(
        "batch upload (multipart): a million columns",
        "/api/predict/batch",
        upload(MILLION_COMMAS),
        "multipart",
        says="columns",
        fast=True,
    ),
    Bad(
        "batch page: wrong headers",
        "/predictions/batch/",
        upload(b"a,b\n1,2\n"),
        "multipart",
        says="Missing columns",
    ),
    Bad("batch page: UTF-16", "/predictions/batch/", upload(UTF16), "multipart", says="UTF-8"),
    Bad("batch page: latin-1", "/predictions/batch/", upload(LATIN1), "multipart", says="UTF-8"),
    Bad(
        "batch page: a million columns",
        "/predictions/batch/",
        upload(MILLION_COMMAS),
        "multipart",
        says="columns",
        fast=True,
    ),
    # --- formula injection and other values the validation refuses
    Bad(
        "predict: formula in Gender",
        "/api/predict",
        js({**FEATURES, "Gender": FORMULA}),
        says="Gender",
    ),
    Bad(
        "predict: formula in Department (wrapped)",
        "/api/predict",
        js({"features": {**FEATURES, "Department": FORMULA}}),
        says="Department",
    ),
    Bad(
        "predict: formula in a numeric field",
        "/api/predict",
        js({**FEATURES, "CGPA": "=1+2"}),
        says="CGPA",
    ),
    Bad(
        "feedback (original shape): formula in Gender",
        "/api/feedback",
        js({"features": {**FEATURES, "Gender": FORMULA}, "prediction": 1, "actual": 1}),
        says="Gender",
    ),
    Bad(
        "feedback: formula as the outcome",
        "/api/feedback",
        js({"prediction_id": FORMULA, "actual": 1}),
    ),
    Bad(
        "feedback page: formula as the outcome",
        "/predictions/{prediction}/feedback/",
        {"actual": FORMULA},
        "urlencoded",
        says="Select a valid choice",
    ),
    Bad(
        "screening form: formula in Department (the form comes back with its errors)",
        "/",
        {**FEATURES, "Department": FORMULA},
        "urlencoded",
        status=200,
        says="is not one of",
    ),
    Bad(
        "predict: a name and an e-mail address",
        "/api/predict",
        js({**FEATURES, "name": "Ann", "email": "ann@example.org"}),
    ),
    Bad("predict: a boolean age", "/api/predict", js({**FEATURES, "Age": True}), says="Age"),
    Bad("retrain (staff): a note too long", "/api/retrain", js({"note": "x" * 501}), says="note"),
]


def _counts() -> tuple:
    return tuple(
        m.objects.count() for m in (Prediction, Feedback, RetrainRun, MonitoringRun, StudentRecord)
    )


@pytest.fixture
def prediction(active_model):
    return services.prediction_create(FEATURES, channel=Prediction.Channel.API)


@pytest.fixture
def staff_client(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("ops", is_staff=True))
    return client


def _send(client, case: Bad, path: str):
    if case.content_type == "multipart":
        return client.post(path, case.body, **case.meta)
    if case.content_type == "urlencoded":
        return client.post(path, case.body, **case.meta)  # Django's default encoding
    return client.post(path, case.body, content_type=case.content_type, **case.meta)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_it_answers_bad_input_with_a_clear_4xx_and_stores_nothing(
    case, prediction, staff_client, client, settings, monkeypatch
):
    if case.limit:
        settings.MAX_REQUEST_BYTES = case.limit
    before = _counts()
    path = case.path.format(prediction=prediction.pk)
    sender = staff_client if path == "/api/retrain" else client
    if case.fast:
        # A million-column header is refused from its first line: parsing it would pad every
        # row to a million cells. The CSV reader must never see it.
        monkeypatch.setattr(batch.csv, "reader", _must_not_parse)
    response = _send(sender, case, path)
    assert response.status_code == case.status, response.content[:300]
    text = response.content.decode(errors="replace")
    assert case.says in text
    assert "Traceback" not in text
    if response["Content-Type"].startswith("application/json"):
        assert response.json()["detail"]
    assert _counts() == before


def _must_not_parse(*args, **kwargs):
    raise AssertionError("the CSV was parsed before its header was refused")


def test_it_refuses_a_formula_row_of_a_batch_and_scores_the_others(prediction, client):
    before = Prediction.objects.count()
    rows = [FEATURES, {**FEATURES, "Gender": FORMULA}]
    response = client.post("/api/predict/batch", rows, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert (body["scored"], body["failed"]) == (1, 1)
    assert "Gender" in body["results"][1]["errors"]
    assert Prediction.objects.count() == before + 1


@pytest.mark.parametrize(
    ("cell", "downloaded"),
    [
        (FORMULA, "'" + FORMULA),
        ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-3.5", "-3.5"),  # a number stays a number
        ("S-0042", "S-0042"),
    ],
)
def test_it_neutralises_formula_cells_in_the_scored_csv(active_model, client, cell, downloaded):
    import csv
    import io

    data = f'Student_ID,{HEADER}\n"{cell}",{ROW}\n'.encode()
    from mindpulse.testing import batch_page_download

    response = client.post("/predictions/batch/", upload(data))
    assert response.status_code == 200
    (header, row) = list(csv.reader(io.StringIO(batch_page_download(response))))
    assert row[header.index("Student_ID")] == downloaded
    assert row[header.index("prediction")] in ("0", "1")
