"""Every operation of the OpenAPI schema (/api/schema/), fuzzed by schemathesis against the
WSGI application in this process: no 5xx, and status codes, content types and bodies as the
schema documents them. Valid (positive) and invalid (negative) requests, at most 50 of each
per operation.

The staff-only operations are called with a staff member's API token (the anonymous answers
are in the authorization matrix, test_security_access.py).

schemathesis' own pytest integration (`from_fixture` + `parametrize`) does not run under
pytest 9 (it sets the removed `Function._nodeid`); its documented Hypothesis strategies do.
"""

from __future__ import annotations

from unittest import mock

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from mindpulse.celery import app
from mindpulse.wsgi import application
from training.features import DAY_HOURS_FEATURES, MAX_DAY_HOURS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    # The schema says what the validation does: valid data accepted, invalid data refused.
    positive_data_acceptance,
    negative_data_rejection,
]
STAFF = ("fuzz-staff", "a-long-unguessable-passphrase-17")
STAFF_TOKEN = "f022" * 10
MAX_EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", "50"))

# Read from the running application, as a client would (no database needed for it).
SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _takes_input(operation) -> bool:
    return bool(operation.body) or any(True for _ in operation.iter_parameters())


# Negative cases need something to make invalid: GET /api/health takes no input at all.
CASES = [
    pytest.param(operation, mode, id=f"{mode.value}-{operation.label}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or _takes_input(operation)
]


def test_it_fuzzes_every_documented_operation():
    labels = {operation.label for operation in OPERATIONS}
    assert labels == {
        "POST /api/predict",
        "POST /api/predict/batch",
        "POST /api/feedback",
        "GET /api/health",
        "GET /api/predictions/{id}",
        "DELETE /api/predictions/{id}",
        "POST /api/retrain",
        "GET /api/retrain/{id}",
    }


@pytest.fixture
def world(active_model, django_user_model, monkeypatch):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_superuser(STAFF[0], "f@example.org", STAFF[1])
    Token.objects.create(user=user, key=STAFF_TOKEN)
    # POST /api/retrain connects to the real broker; the message itself is not queued.
    monkeypatch.setattr(app, "send_task", mock.MagicMock())
    # The requests go through the WSGI handler, whose end-of-request hook would close the
    # test's database connection (inside its transaction); Django's test client unhooks it too.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_it_answers_every_generated_request_as_documented(world, operation, mode):
    headers = {"Authorization": f"Token {STAFF_TOKEN}"} if operation.security else None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        excluded = []
        if mode == GenerationMode.POSITIVE and not _schema_can_say_valid(case):
            excluded = [positive_data_acceptance]
        case.call_and_validate(headers=headers, checks=CHECKS, excluded_checks=excluded)

    fuzz()


def _schema_can_say_valid(case) -> bool:
    """False for the two rules JSON Schema cannot state, documented in words instead: the
    24-hour sum of three features (a sum across fields), and the content of an uploaded file
    (the multipart `file` is bytes)."""
    if case.media_type == "multipart/form-data":
        return False
    body = case.body if isinstance(case.body, dict) else None
    rows = [body, body.get("features") if body else None]
    for row in rows:
        if (
            isinstance(row, dict)
            and all(isinstance(row.get(name), int | float) for name in DAY_HOURS_FEATURES)
            and sum(row[name] for name in DAY_HOURS_FEATURES) > MAX_DAY_HOURS
        ):
            return False
    return True
