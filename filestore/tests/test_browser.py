"""A report kept in the database storage, opened in Debian's Chromium through the admin."""

from __future__ import annotations

import pytest
from django.utils import timezone

from filestore import files
from monitoring.models import MonitoringReport, MonitoringRun
from predictions.tests.test_browser import chromium_page, screenshot_path  # noqa: F401

MARK = "Drift report served from the database"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_opens_a_report_kept_in_the_database(
    live_server,
    chromium_page,  # noqa: F811
    database_storages,
    django_user_model,
    settings,
):
    name = "data_drift/20261202-120000-run1.html"
    files.save_new(files.REPORTS, name, f"<!DOCTYPE html><html><body><h1>{MARK}</h1>".encode())
    run = MonitoringRun.objects.create(status=MonitoringRun.Status.OK)
    now = timezone.now()
    report = MonitoringReport.objects.create(
        run=run, kind="data_drift", status="ok", html_path=name, window_start=now, window_end=now
    )
    django_user_model.objects.create_superuser("boss", "boss@example.org", "a long pass phrase")

    page = chromium_page
    target = f"/admin/monitoring/monitoringreport/{report.pk}/report/"
    page.goto(f"{live_server.url}/admin/login/?next={target}")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "a long pass phrase")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{target}")

    frame = page.frame_locator("iframe")
    assert frame.locator("h1").inner_text() == MARK
    assert not settings.REPORTS_DIR.exists() or not any(settings.REPORTS_DIR.rglob("*"))
    page.screenshot(path=str(screenshot_path("report-from-database.png")), full_page=True)
