"""One real-browser run: Debian's Chromium, driven by Playwright, against a live server.

Skipped with a message when /usr/bin/chromium is absent, unless MINDPULSE_REQUIRE_BROWSER=1
(CI), where a missing browser fails the run instead of hiding the test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from predictions.models import Feedback, Prediction

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/mindpulse_result.png")


def screenshot_path(name: str) -> Path:
    """Under MINDPULSE_SCREENSHOTS_DIR when set (docs/screenshots/ for the README), else
    /tmp: a test run does not rewrite the committed images unless asked to."""
    folder = Path(os.environ.get("MINDPULSE_SCREENSHOTS_DIR") or "/tmp/mindpulse-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# A worried student's answers (the result page has factors that raise the risk).
FORM_ANSWERS = {
    "Age": "20",
    "Gender": "Female",
    "Department": "Engineering",
    "CGPA": "2.3",
    "Study_Hours": "6",
    "Sleep_Duration": "4.5",
    "Social_Media_Hours": "5",
    "Physical_Activity": "10",
    "Stress_Level": "9",
}


def fill_form(page, *, consent: bool = True, submit: bool = True, **answers: str) -> None:
    """Fill the student form on `page` (FORM_ANSWERS, with `answers` changed), tick the
    consent box when asked (unticked by default on the page), and submit it."""
    for name, value in {**FORM_ANSWERS, **answers}.items():
        if name in ("Gender", "Department"):
            page.select_option(f"#id_{name}", value)
        else:
            page.fill(f"#id_{name}", value)
    if consent:
        page.check("#id_consent")
    if submit:
        page.click("button[type=submit].primary")


@pytest.fixture
def chromium_page(monkeypatch):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium to run the browser test."
        if os.environ.get("MINDPULSE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (MINDPULSE_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls of the
    # test itself are synchronous and safe here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_fills_the_form_reads_the_result_and_sends_feedback(
    live_server, active_model, chromium_page
):
    page = chromium_page
    page.goto(live_server.url + "/")
    assert page.locator("legend").all_inner_texts() == ["Profile", "Studies", "Lifestyle"]

    # A value the server refuses first: the error appears next to its field.
    fill_form(page, consent=False, Age="12")
    assert "between 15 and 100" in page.inner_text("#id_Age_error")
    assert page.input_value("#id_Stress_Level") == "9"

    page.fill("#id_Age", "20")
    assert not page.is_checked("#id_consent")  # unticked by default (privacy/tests)
    page.check("#id_consent")
    page.click("button[type=submit].primary")
    page.wait_for_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    prediction = Prediction.objects.get()
    percent = page.inner_text("[data-testid=risk-percent]")
    assert percent == f"{round(prediction.probability * 100)}%"
    body = page.inner_text("main")
    assert "screening aid, not a diagnosis" in body
    assert "3114" in body and "Fil Santé Jeunes" in body
    assert "Raised it" in body and "Stress level" in body
    assert f"model version {active_model.version}" in body
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.check("input[name=actual][value='1']")
    page.click(".feedback button[type=submit]")
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert "received 1 outcome so far" in page.inner_text("main")
    assert Feedback.objects.get(prediction=prediction).actual is True

    # The language switcher (a plain form, no JavaScript needed).
    page.click("form.language button[value=fr]")
    page.wait_for_load_state()
    assert "Merci" in page.inner_text("main")


# The original client's feedback, sent from a page as it sends it: the nine features and
# "actual" as JSON, success shown only on status 200 (its webapp/app.py rule).
ORIGINAL_CLIENT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body>
<button id="send">Envoyer le feedback</button>
<p id="message"></p>
<script>
const body = %s;
document.getElementById("send").addEventListener("click", async () => {
  const response = await fetch("/feedback", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  const message = document.getElementById("message");
  if (response.status === 200) {
    const result = await response.json();
    message.className = "success";
    message.textContent = "Merci ! Feedback enregistré (" + result.total_feedbacks + ").";
  } else {
    message.className = "error";
    message.textContent = "Erreur: " + response.status;
  }
});
</script>
</body></html>"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_accepts_the_original_clients_feedback_and_shows_a_success(
    live_server, active_model, chromium_page
):
    import json

    from predictions.tests.test_original_client import PAIRS

    (pair,) = [p for p in PAIRS if p["name"] == "feedback, a 44-hour day, actual 0"]
    html = ORIGINAL_CLIENT_PAGE % json.dumps(pair["request"]["json"])
    page = chromium_page
    # Served by the test on the server's own origin, as the client's server-side call is.
    page.route(
        live_server.url + "/original-client",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    page.goto(live_server.url + "/original-client")
    with page.expect_response(live_server.url + "/feedback") as answer:
        page.click("#send")
    assert answer.value.status == 200
    page.wait_for_selector("#message.success")
    assert page.inner_text("#message") == "Merci ! Feedback enregistré (1)."
    feedback = Feedback.objects.select_related("prediction").get()
    assert feedback.actual is False
    assert "implausible_day" in [w["code"] for w in feedback.prediction.warnings]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_shows_the_pages_for_the_readme_screenshots(
    live_server, active_model, chromium_page, django_user_model
):
    from predictions import services
    from training import datagen, serving
    from training.features import FEATURE_NAMES

    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/")
    assert page.locator("legend").count() == 3
    page.screenshot(path=str(screenshot_path("form.png")), full_page=True)

    # The most and the least worrying of a few generated students, by the model in service.
    rows = datagen.generate_students(300, seed=5).dropna(subset=list(FEATURE_NAMES))
    rows = rows[list(FEATURE_NAMES)].to_dict("records")
    loaded = serving.get_active_model()
    rows.sort(key=loaded.predictor.predict_proba_one)
    for row, name, at_risk in (
        (rows[-1], "result-high.png", True),
        (rows[0], "result-low.png", False),
    ):
        prediction = services.prediction_create(row, channel=Prediction.Channel.FORM)
        assert prediction.label is at_risk
        page.goto(f"{live_server.url}/predictions/{prediction.pk}/")
        assert (
            page.inner_text("[data-testid=risk-percent]")
            == f"{round(prediction.probability * 100)}%"
        )
        page.screenshot(path=str(screenshot_path(name)), full_page=True)

    django_user_model.objects.create_superuser("boss", "boss@example.org", "a long pass phrase")
    page.goto(live_server.url + "/admin/login/?next=/admin/predictions/prediction/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "a long pass phrase")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/predictions/prediction/")
    assert "pas à risque" not in page.inner_text("#result_list")
    assert "not at risk" in page.inner_text("#result_list")
    # The list fits a 1280 px screen: nothing to scroll sideways, page or table.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    table = page.locator("#result_list")
    assert table.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
    assert table.bounding_box()["x"] + table.bounding_box()["width"] <= 1280
    page.screenshot(path=str(screenshot_path("admin-predictions.png")), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_sums_up_a_batch_upload_and_downloads_the_scored_file(
    live_server, active_model, chromium_page, tmp_path
):
    import csv
    import io

    from mindpulse.testing import SAMPLE_FEATURES
    from training.features import FEATURES

    page = chromium_page
    page.goto(live_server.url + "/predictions/batch/")
    # Before the upload: the accepted values and the template.
    for feature in FEATURES:
        cell = page.locator(f"[data-column={feature.name}] td").nth(2).inner_text()
        expected = feature.choices or (f"{feature.minimum:g}", f"{feature.maximum:g}")
        assert all(part in cell for part in expected), (feature.name, cell)
    with page.expect_download() as template:
        page.click("[data-testid=template]")
    header = template.value.path().read_text().strip().split(",")
    assert header == ["Student_ID", *(f.name for f in FEATURES)]

    # A file of three rows, one of them refused.
    rows = [
        {"Student_ID": "S-1", **SAMPLE_FEATURES},
        {"Student_ID": "S-2", **SAMPLE_FEATURES, "Stress_Level": 10, "Sleep_Duration": 3},
        {"Student_ID": "S-3", **SAMPLE_FEATURES, "CGPA": "7"},
    ]
    path = tmp_path / "class.csv"
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    page.set_input_files("input[type=file]", str(path))
    page.click("button[type=submit].primary")
    page.wait_for_selector("[data-testid=batch-summary]")
    stored = Prediction.objects.filter(channel="batch")
    assert page.inner_text("[data-testid=rows]") == "3"
    assert page.inner_text("[data-testid=scored]") == "2" == str(stored.count())
    assert page.inner_text("[data-testid=refused]") == "1"
    assert page.inner_text("[data-testid=positives]") == str(stored.filter(label=True).count())
    refused = page.inner_text("[data-testid=refused-rows]")
    assert "4" in refused and "CGPA: Enter a value between 0 and 4" in refused
    with page.expect_download() as scored:
        page.click("[data-testid=download]")
    assert scored.value.suggested_filename.startswith("mindpulse-scores-")
    out = list(csv.DictReader(io.StringIO(scored.value.path().read_text())))
    assert [row["Student_ID"] for row in out] == ["S-1", "S-2", "S-3"]
    assert out[2]["prediction"] == "" and out[2]["error"].startswith("CGPA:")
    page.screenshot(path=str(screenshot_path("batch-summary.png")), full_page=True)
