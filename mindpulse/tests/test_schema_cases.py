"""The hand-written case list of the schema fuzzing: requests Hypothesis does not generate
(lone surrogates, NUL bytes in bodies, headers and credentials, duplicate keys, 1,001+ form
fields, chunked bodies), sent to every operation of the OpenAPI schema. Each answer is a 4xx
or 2xx that the schema documents for that operation, in JSON, and small; never a 5xx.

test_schema_fuzz.py runs schemathesis' generated requests over the same schema.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest
from rest_framework.authtoken.models import Token

from mindpulse.testing import SAMPLE_FEATURES

pytestmark = pytest.mark.django_db

TOKEN = "c0de" * 10
FEATURES = json.dumps(SAMPLE_FEATURES)


@dataclass(frozen=True)
class Raw:
    body: bytes | str = b""
    content_type: str = "application/json"
    meta: dict = field(default_factory=dict)
    token: bool = True  # send the staff token (staff operations)


def _form_fields(count: int) -> str:
    return "&".join(f"f{i}={i}" for i in range(count))


def _multipart_fields(count: int) -> tuple[bytes, str]:
    boundary = "mindpulse-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n{i}\r\n'
        for i in range(count)
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_MULTIPART, _MULTIPART_TYPE = _multipart_fields(1001)

CASES = {
    "lone-surrogate-in-values": Raw(
        '{"note": "\\ud800", "actual": "\\udfff", "prediction_id": "\\ud800", '
        '"features": {"Gender": "\\ud800"}, "Gender": "\\udbff"}'
    ),
    "lone-surrogate-in-a-key": Raw(FEATURES[:-1] + ', "\\ud800": 1}'),
    "lone-surrogate-in-a-list": Raw('[{"Gender": "\\ud800"}]'),
    "escaped-nul-in-strings": Raw(
        '{"note": "a\\u0000b", "prediction_id": "a\\u0000b", "actual": 1, '
        '"features": {"Gender": "Fe\\u0000male"}, "Gender": "Fe\\u0000male"}'
    ),
    "raw-nul-byte-in-the-body": Raw(b'{"note": "a\x00b", "Gender": "\x00"}'),
    "duplicate-keys": Raw(FEATURES[:-1] + ', "Age": 99, "actual": 1, "actual": 0}'),
    "duplicate-keys-nested": Raw('{"features": %s, "features": {}}' % FEATURES),  # noqa: UP031
    "nul-in-a-token": Raw(FEATURES, meta={"HTTP_AUTHORIZATION": "Token " + "a" * 39 + "\x00"}),
    "nul-in-a-basic-user-name": Raw(
        FEATURES, meta={"HTTP_AUTHORIZATION": _basic("ad\x00min", "x")}, token=False
    ),
    "nul-in-x-forwarded-for": Raw(FEATURES, meta={"HTTP_X_FORWARDED_FOR": "1.2.3.4\x00, 5.6.7.8"}),
    "nul-in-the-content-type": Raw(FEATURES, content_type="application/json\x00"),
    "nul-in-the-accept-header": Raw(FEATURES, meta={"HTTP_ACCEPT": "application/json\x00"}),
    "1001-urlencoded-fields": Raw(
        _form_fields(1001), content_type="application/x-www-form-urlencoded"
    ),
    "1001-multipart-fields": Raw(_MULTIPART, content_type=_MULTIPART_TYPE),
    "chunked-body-without-length": Raw(
        FEATURES, meta={"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""}
    ),
    "content-length-not-a-number": Raw(FEATURES, meta={"CONTENT_LENGTH": "12abc"}),
}


@pytest.fixture(scope="module")
def operations(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        schema = json.loads(Client().get("/api/schema/?format=json").content)
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            documented = {int(code) for code in operation["responses"] if code.isdigit()}
            found.append((method, path, documented, bool(operation.get("security"))))
    return found


@pytest.fixture
def world(active_model, django_user_model, settings):
    from predictions import services
    from predictions.models import Prediction
    from training.models import RetrainRun

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    user = django_user_model.objects.create_superuser("cases", "c@example.org", "x" * 20)
    Token.objects.create(user=user, key=TOKEN)
    prediction = services.prediction_create(dict(SAMPLE_FEATURES), channel=Prediction.Channel.API)
    run = RetrainRun.objects.create(trigger="manual", decision="rejected")
    return {"id": str(prediction.pk), "run": run.pk}


def _url(path: str, world) -> str:
    return (
        path.replace("{id}", world["id"])
        if "predictions" in path
        else path.replace("{id}", str(world["run"]))
    )


@pytest.mark.parametrize("name", list(CASES))
def test_it_answers_each_hand_written_case_as_documented(
    client, world, operations, name, monkeypatch
):
    from mindpulse.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)  # POST /api/retrain queues
    case = CASES[name]
    for method, path, documented, staff in operations:
        meta = dict(case.meta)
        if staff and case.token and "HTTP_AUTHORIZATION" not in meta:
            meta["HTTP_AUTHORIZATION"] = f"Token {TOKEN}"
        body = case.body if method in ("post", "put", "patch") else ""
        response = client.generic(
            method.upper(), _url(path, world), body, content_type=case.content_type, **meta
        )
        label = f"{method.upper()} {path}"
        assert response.status_code < 500, (label, response.content[:300])
        # Besides the documented answers: 401/403 for bad staff credentials, and the two
        # transport-level refusals (406 unusable Accept, 411 chunked body; docs/security.md).
        allowed = documented | ({401, 403} if staff else set()) | {406, 411}
        assert response.status_code in allowed, (label, response.status_code, response.content)
        assert response["Content-Type"].startswith("application/json"), label
        assert len(response.content) < 4096 or response.status_code == 200, label


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/", "application/x-www-form-urlencoded", _form_fields(1001)),
        ("/predictions/batch/", _MULTIPART_TYPE, _MULTIPART),
        ("/admin/login/", "application/x-www-form-urlencoded", _form_fields(1001)),
    ],
)
def test_it_refuses_1001_form_fields_on_the_pages_with_a_400(
    client, active_model, path, content_type, body
):
    response = client.generic("POST", path, body, content_type=content_type)
    assert response.status_code == 400
