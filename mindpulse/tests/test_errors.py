"""The API's one error shape, written by mindpulse.errors.api_exception_handler."""

from __future__ import annotations

import pytest
from rest_framework.exceptions import NotFound, ValidationError

from mindpulse.errors import api_exception_handler


def test_it_gives_a_refused_input_a_detail_and_its_errors_per_field():
    response = api_exception_handler(ValidationError({"Age": ["Too old."]}), {})
    assert response.status_code == 400
    assert response.data == {"detail": "Invalid input.", "errors": {"Age": ["Too old."]}}


def test_it_puts_an_error_of_no_field_under_non_field_errors():
    response = api_exception_handler(ValidationError("The day has 30 hours."), {})
    assert response.data == {
        "detail": "Invalid input.",
        "errors": {"non_field_errors": ["The day has 30 hours."]},
    }


def test_it_leaves_the_other_errors_to_drfs_detail_body():
    response = api_exception_handler(NotFound("No prediction has this id."), {})
    assert response.status_code == 404
    assert response.data == {"detail": "No prediction has this id."}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/predict", {"Age": "old"}),
        ("/api/feedback", {"prediction_id": "not-a-uuid", "actual": 1}),
        ("/api/predict/batch", {"rows": []}),
    ],
)
def test_every_public_endpoint_answers_a_refused_input_in_that_shape(client, path, body):
    response = client.post(path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["detail"] == "Invalid input."
    assert payload["errors"] and all(isinstance(v, list) for v in payload["errors"].values())
