"""The privacy notice in a real browser (Debian's Chromium via Playwright), in English and in
French, reached from the form; and a student's withdrawal from the result page."""

from __future__ import annotations

import re

import pytest

from predictions.models import Prediction
from predictions.tests.test_browser import chromium_page, fill_form  # noqa: F401 (the fixture)
from privacy.models import Erasure


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_shows_the_privacy_notice_in_english_and_french(
    live_server,
    active_model,
    chromium_page,  # noqa: F811
    settings,
):
    settings.PRIVACY_CONTROLLER = "Université Exemple"
    settings.PRIVACY_CONTACT = "dpo@univ.example"
    settings.RETENTION_DAYS_RAW = 365
    page = chromium_page
    page.goto(live_server.url + "/")
    assert not page.is_checked("#id_consent")
    page.click("a[href='/privacy/']")
    page.wait_for_url(re.compile(r"/privacy/$"))
    assert page.inner_text("h1") == "Privacy notice"
    body = page.inner_text("main")
    assert "Université Exemple" in body and "dpo@univ.example" in body
    assert "Answers without a reported outcome: 365 days" in body
    assert "only the estimate and its date are kept" in body  # NO_CONSENT_STORAGE=minimal

    page.click("form.language button[value=fr]")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Notice de confidentialité"
    body = page.inner_text("main")
    assert "Responsable du traitement" in body and "Université Exemple" in body
    assert "Réponses sans résultat signalé : 365 jours" in body
    assert "données de santé" in body


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_lets_the_student_delete_the_answers_from_the_result_page(
    live_server,
    active_model,
    chromium_page,  # noqa: F811
):
    page = chromium_page
    page.goto(live_server.url + "/")
    fill_form(page, consent=True)
    page.wait_for_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    prediction = Prediction.objects.get()
    page.click(".erase button[type=submit]")
    page.wait_for_url(re.compile(r"/delete/$"))
    assert "Your answers are deleted" in page.inner_text("h1")
    assert not Prediction.objects.exists()
    assert Erasure.objects.get().prediction_id == prediction.pk
