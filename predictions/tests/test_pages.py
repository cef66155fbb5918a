"""The pages through Django's test client: form, result, feedback, thank-you, languages."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import translation

from mindpulse.celery import app
from predictions import explanations
from predictions.models import Feedback, Prediction
from training import services

pytestmark = pytest.mark.django_db

HELP_LINES = ("3114", "09 72 39 40 50", "0 800 235 236")


def _text(response) -> str:
    return response.content.decode()


def _field_block(html: str, name: str) -> str:
    """The <div class="field"> that holds the input named `name`."""
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', html, flags=re.S):
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field {name}")


def _post_form(client, features, **changes):
    """The form as a student who ticked the consent box posts it (privacy/tests cover the
    unticked box)."""
    return client.post("/", {**features, "consent": "on", **changes})


def test_it_shows_the_form_grouped_with_units_and_sensible_inputs(client, active_model):
    html = _text(client.get("/"))
    legends = re.findall(r"<legend>(.*?)</legend>", html)
    assert legends == ["Profile", "Studies", "Lifestyle"]
    profile = html[html.index("<legend>Profile") : html.index("<legend>Studies")]
    assert all(f'name="{n}"' in profile for n in ("Age", "Gender", "Department"))
    age = _field_block(html, "Age")
    assert 'type="number"' in age and 'min="15"' in age and 'max="100"' in age
    assert 'step="1"' in age and "(years)" in age
    cgpa = _field_block(html, "CGPA")
    assert 'step="0.01"' in cgpa and 'max="4"' in cgpa
    assert 'step="0.1"' in _field_block(html, "Sleep_Duration")
    gender = _field_block(html, "Gender")
    assert "<select" in gender and 'value="Female"' in gender
    assert "hours per night" in _field_block(html, "Sleep_Duration")
    assert "csrfmiddlewaretoken" in html


def test_it_predicts_from_the_form_and_redirects_to_the_result(client, active_model, features):
    response = _post_form(client, features, Gender="female")
    assert response.status_code == 302
    prediction = Prediction.objects.get()
    assert response["Location"] == f"/predictions/{prediction.pk}/"
    assert prediction.channel == Prediction.Channel.FORM and prediction.gender == "Female"


def test_it_shows_errors_next_to_their_fields(client, active_model, features):
    response = _post_form(client, features, Age="12", CGPA="", Department="Law")
    assert response.status_code == 200
    html = _text(response)
    assert "Enter a value between 15 and 100." in _field_block(html, "Age")
    assert "This field is required." in _field_block(html, "CGPA")
    assert "is not one of" in _field_block(html, "Department")
    assert "has-error" not in _field_block(html, "Stress_Level")
    assert 'value="6"' in _field_block(html, "Stress_Level")  # what was typed is kept
    assert Prediction.objects.count() == 0


def test_it_shows_the_sum_rule_above_the_form(client, active_model, features):
    html = _text(_post_form(client, features, Sleep_Duration="12", Study_Hours="10"))
    errors = html[html.index('id="form-errors"') : html.index("<fieldset")]
    assert "a day has only 24" in errors


def test_it_says_the_service_is_not_ready_without_a_model(client, db, features):
    html = _text(client.get("/"))
    assert "not ready" in html and "<fieldset" not in html
    response = _post_form(client, features)
    assert response.status_code == 503
    assert Prediction.objects.count() == 0


@pytest.fixture
def result(client, active_model, features):
    _post_form(client, features, Age="40")
    return Prediction.objects.get()


def test_it_shows_the_result_with_factors_advice_disclaimer_and_help(client, result):
    html = _text(client.get(f"/predictions/{result.pk}/"))
    percent = round(result.probability * 100)
    assert f"{percent}%" in html
    assert f"a {percent}% risk of depression" in html
    assert ("above the" if result.label else "below the") in html
    assert f"model version {result.model_version.version}." in html
    # Nothing meant for staff: no algorithm name, no staff tools in the navigation.
    assert result.model_version.algorithm not in html
    assert "Batch scoring" not in html and "/api/docs/" not in html
    assert "screening aid, not a diagnosis" in html
    for number in HELP_LINES:
        assert number in html
    assert "university health service" in html
    assert "Raised it" in html and "Lowered it" in html
    assert "What you can act on" in html
    assert "Age: 40 is outside what the model learned from" in html
    assert 'name="actual"' in html and f"/predictions/{result.pk}/feedback/" in html


def test_it_lists_the_factors_the_model_computes(client, result):
    factors = explanations.factors_for(result)
    assert factors.available
    html = _text(client.get(f"/predictions/{result.pk}/"))
    raising = html[html.index("Raised it") : html.index("Lowered it")]
    lowering = html[html.index("Lowered it") : html.index("What you can act on")]
    for factor in factors.raising:
        assert str(factor.label) in raising and factor.contribution > 0
    for factor in factors.lowering:
        assert str(factor.label) in lowering and factor.contribution < 0
    assert len(factors.raising) + len(factors.lowering) >= 5


def test_it_explains_an_older_version_with_that_version(client, result, trained_outcome):
    services.model_activate(services.model_register(trained_outcome), reason="test swap")
    html = _text(client.get(f"/predictions/{result.pk}/"))
    assert f"model version {result.model_version.version}" in html
    assert "Raised it" in html


def test_it_answers_404_for_an_unknown_result(client, db):
    assert client.get("/predictions/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_it_records_feedback_from_the_page_and_thanks(client, result):
    response = client.post(f"/predictions/{result.pk}/feedback/", {"actual": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"/predictions/{result.pk}/thanks/"
    assert Feedback.objects.get(prediction=result).actual is True
    html = _text(client.get(response["Location"]))
    assert "received 1 outcome so far" in html
    assert "retrain" not in html.lower()
    page = _text(client.get(f"/predictions/{result.pk}/"))
    assert "is recorded" in page and 'name="actual"' not in page


def test_it_refuses_a_second_feedback_from_the_page(client, result):
    client.post(f"/predictions/{result.pk}/feedback/", {"actual": "0"})
    response = client.post(f"/predictions/{result.pk}/feedback/", {"actual": "1"}, follow=True)
    assert "already recorded" in _text(response)
    assert Feedback.objects.get(prediction=result).actual is False


def test_it_shows_a_missing_feedback_answer_next_to_the_question(client, result):
    response = client.post(f"/predictions/{result.pk}/feedback/", {})
    assert response.status_code == 400
    assert "Choose one of the two answers." in _text(response)
    assert Feedback.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_retrain_out_of_the_thank_you_page_even_when_triggered(
    client, active_model, features, settings
):
    settings.RETRAIN_THRESHOLD = 1
    # The crossing counts usable labels: a student_link label counts at once here (by
    # default a day after its prediction), and this one client may supply all of them.
    settings.MIN_LABEL_AGE = timedelta(0)
    settings.RETRAIN_MAX_CLIENT_SHARE = 1.0
    _post_form(client, features)
    prediction = Prediction.objects.get()
    with mock.patch.object(app, "send_task") as send_task:
        response = client.post(f"/predictions/{prediction.pk}/feedback/", {"actual": "1"})
    send_task.assert_called_once()
    html = _text(client.get(response["Location"]))
    # The student reads a thank-you, not the state of the MLOps loop.
    assert "retrain" not in html.lower() and "received 1 outcome so far" in html


def test_it_redirects_the_thank_you_page_to_the_result_before_any_feedback(client, result):
    response = client.get(f"/predictions/{result.pk}/thanks/")
    assert response["Location"] == f"/predictions/{result.pk}/"


# --- Languages -----------------------------------------------------------------------------


def test_it_serves_the_pages_in_french(client, result):
    client.cookies["django_language"] = "fr"
    form = _text(client.get("/"))
    assert '<html lang="fr">' in form
    assert "Profil" in form and "Études" in form and "Mode de vie" in form
    html = _text(client.get(f"/predictions/{result.pk}/"))
    assert "Votre résultat" in html
    assert "aide au dépistage" in html and "pas un diagnostic" in html
    assert "Où trouver de l’aide" in html
    for number in HELP_LINES:
        assert number in html


def test_it_shows_validation_messages_in_french(client, active_model, features):
    client.cookies["django_language"] = "fr"
    html = _text(_post_form(client, features, Age="12"))
    assert "Saisissez une valeur entre 15 et 100." in _field_block(html, "Age")


def test_it_switches_language_with_the_switcher(client, active_model):
    html = _text(client.get("/"))
    assert 'action="/i18n/setlang/"' in html and 'value="fr"' in html
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert "Mode de vie" in _text(client.get("/"))


@pytest.mark.parametrize(
    ("social_media", "praised"), [(6.0, False), (2.5, False), (2.0, True), (0.5, True)]
)
def test_it_praises_a_factor_that_lowered_the_estimate_only_when_its_value_is_healthy(
    active_model, features, social_media, praised
):
    from types import SimpleNamespace

    from predictions import services

    stored = services.prediction_create(
        dict(features, Social_Media_Hours=social_media), channel=Prediction.Channel.FORM
    )
    lowered = SimpleNamespace(
        contributions=[
            {"feature": "Social_Media_Hours", "contribution": -0.2, "direction": "lowers"},
            {"feature": "Stress_Level", "contribution": 0.3, "direction": "raises"},
        ]
    )
    with (
        mock.patch.object(explanations, "explain", return_value=lowered),
        translation.override("en"),
    ):
        factors = explanations.factors_for(stored)
        texts = " ".join(str(entry["text"]) for entry in factors.advice)

    assert [f.feature for f in factors.lowering] == ["Social_Media_Hours"]
    assert ("moderate" in texts) is praised
    assert "Stress weighs on this estimate" in texts
