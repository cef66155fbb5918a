"""Every operation of the OpenAPI schema (/api/schema/), fuzzed by schemathesis against the
WSGI application in this process: no 5xx, and status codes, content types and bodies as the
schema documents them. Valid (positive) and invalid (negative) requests, at most 50 of each
per operation.

The staff-only operations are called with a staff member's Basic credentials (the anonymous
answers are in the authorization matrix, test_security_access.py).

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
    response_schema_conformance,
    status_code_conformance,
)

from mindpulse.celery import app
from mindpulse.wsgi import application

from .live import basic_auth

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STAFF = ("fuzz-staff", "a-long-unguessable-passphrase-17")
MAX_EXAMPLES = 50

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
    django_user_model.objects.create_user(STAFF[0], password=STAFF[1], is_staff=True)
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
    headers = basic_auth(*STAFF) if operation.security else None

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()
