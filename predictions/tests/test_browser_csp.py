"""The Content-Security-Policy in a real browser (Debian's Chromium via Playwright), offline:
the pages, the admin, its charts, the Evidently report viewer and Swagger UI work, and the
browser reports no violation of the policy and asks for nothing outside MindPulse.
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from monitoring.models import MonitoringReport

from .test_browser import chromium_page, fill_form  # noqa: F401 (the fixture)

PASSWORD = "a-long-unguessable-passphrase-csp"
# Stands in for an Evidently file: its own inline script and style, as Evidently's have.
REPORT_HTML = """<!doctype html><html><head><meta charset="utf-8">
<style>body { color: rgb(1, 2, 3); }</style></head>
<body><p id="out">script did not run</p>
<script>document.getElementById("out").textContent = "report script ran";</script>
</body></html>"""


@pytest.fixture
def watched(chromium_page, live_server):  # noqa: F811
    """The page, with every CSP violation and every request leaving the live server noted
    (and refused: the browser is offline)."""
    page = chromium_page
    violations, outside = [], []
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text or "CSP violation" in message.text
            else None
        ),
    )

    def route(route):
        if route.request.url.startswith(live_server.url):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", route)
    return page, violations, outside


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_works_under_the_csp_in_a_real_browser(
    live_server, active_model, watched, django_user_model, settings
):
    page, violations, outside = watched
    django_user_model.objects.create_superuser("csp", "csp@example.org", PASSWORD)
    settings.REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    (settings.REPORTS_DIR / "report-csp.html").write_text(REPORT_HTML)
    report = MonitoringReport.objects.create(
        kind=MonitoringReport.Kind.DATA_DRIFT,
        status=MonitoringReport.Status.OK,
        html_path="report-csp.html",
        summary={"drift_share": 0.1},
        window_start=timezone.now(),
        window_end=timezone.now(),
    )

    # The form, and the result page with its factor bars.
    page.goto(live_server.url + "/")
    fill_form(page, consent=True)  # kept, so that the result page has its own URL (issue 17)
    page.wait_for_url(re.compile(r"/predictions/[0-9a-f-]{36}/$"))
    bars = page.locator(".factor-list .bar rect")
    assert bars.count() > 0
    widths = [float(bars.nth(i).bounding_box()["width"]) for i in range(bars.count())]
    assert max(widths) > 50  # the largest factor's bar spans the column, not 0 px

    # The admin: sign in, the index, a list, the monitoring overview with its charts.
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "csp")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.goto(live_server.url + "/admin/predictions/prediction/")
    assert page.locator("#result_list").count() == 1
    page.goto(live_server.url + "/admin/monitoring/overview/")
    assert page.locator("svg.mp-chart").count() > 0

    # The report viewer: the report's own scripts run in its sandboxed frame.
    page.goto(live_server.url + f"/admin/monitoring/monitoringreport/{report.pk}/report/")
    frame = page.frame_locator("iframe.monitoring-report-frame")
    assert frame.locator("#out").inner_text() == "report script ran"

    # Swagger UI, from the project's own files.
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    assert "/api/predict" in page.inner_text("#swagger-ui")

    assert violations == []
    assert outside == []
