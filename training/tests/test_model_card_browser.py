"""The model card in a real browser (Debian's Chromium via Playwright), in both languages:
from the result page's link, then switched to French with the language form."""

from __future__ import annotations

import re

import pytest

from mindpulse.testing import SAMPLE_FEATURES
from predictions.tests.test_browser import chromium_page  # noqa: F401 - the shared fixture


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_opens_the_model_card_from_the_result_in_english_and_french(
    live_server,
    active_model,
    chromium_page,  # noqa: F811
):
    from predictions import services as prediction_services

    prediction = prediction_services.prediction_create(dict(SAMPLE_FEATURES), channel="form")
    page = chromium_page
    page.goto(f"{live_server.url}/predictions/{prediction.pk}/")
    page.click("[data-testid=model-card-link]")
    page.wait_for_url(re.compile(rf"/models/v{active_model.version}/$"))

    heading = page.inner_text("h1")
    assert heading == (
        f"How this estimate is made: model v{active_model.version} ({active_model.algorithm})"
    )
    assert page.locator("[data-testid=reliability-diagram] svg circle").count() >= 2
    assert page.locator("[data-testid=card-groups-Department] tbody tr").count() == 5
    threshold = page.inner_text("[data-testid=card-threshold]")
    assert f"{round(active_model.threshold * 100)}% or more" in threshold
    assert "activated" in page.inner_text("[data-testid=card-history]")

    page.click("form.language button[value=fr]")
    page.wait_for_load_state()
    assert page.inner_text("h1").startswith("Comment cette estimation est faite")
    assert "Risque estimé (en abscisse)" in page.inner_text("[data-testid=reliability-diagram]")
    assert f"{round(active_model.threshold * 100)} % ou plus" in page.inner_text(
        "[data-testid=card-threshold]"
    )
    assert "mise en service" in page.inner_text("[data-testid=card-history]")
    assert page.locator("[data-testid=reliability-diagram] svg circle").count() >= 2
