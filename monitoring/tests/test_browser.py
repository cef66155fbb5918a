"""The monitoring overview in French, in Debian's Chromium: the charts are drawn where the
server computed them (numbers inside SVG are never localised, "0,5" is no coordinate)."""

from __future__ import annotations

import pytest

from monitoring import charts, selectors, services
from predictions.tests.test_browser import chromium_page, screenshot_path  # noqa: F401

from .conftest import shift, students


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_draws_the_french_overview_charts_at_their_coordinates(
    live_server,
    chromium_page,  # noqa: F811
    make_predictions,
    django_user_model,
    settings,
):
    settings.DRIFT_THRESHOLD = 0.2
    make_predictions(shift(students(300, seed=23)), labelled=100)
    services.reports_run()
    django_user_model.objects.create_superuser("boss", "boss@example.org", "a long pass phrase")
    drift = selectors.drift_series()
    expected = charts.line_chart(
        [
            {
                "name": "drift share",
                "css": "drift",
                "points": [(p["at"], p["drift_share"]) for p in drift],
            }
        ],
        threshold=settings.DRIFT_THRESHOLD,
    )["lines"][0]["dots"][0]

    page = chromium_page
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": live_server.url}])
    page.goto(live_server.url + "/admin/login/?next=/admin/monitoring/overview/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "a long pass phrase")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/monitoring/overview/")

    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Part de dérive" in page.inner_text("#content")
    dot = page.locator("svg.mp-chart g.series.drift circle").first
    cx, cy = float(dot.get_attribute("cx")), float(dot.get_attribute("cy"))
    assert (cx, cy) == (pytest.approx(float(expected["x"])), pytest.approx(float(expected["y"])))
    # Chromium placed it: a circle whose coordinates it could not parse has no box.
    box = dot.bounding_box()
    svg = page.locator("svg.mp-chart").first.bounding_box()
    assert box is not None and box["width"] > 0
    assert svg["x"] < box["x"] < svg["x"] + svg["width"]
    page.screenshot(path=str(screenshot_path("monitoring-overview-fr.png")), full_page=True)
