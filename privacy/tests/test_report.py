"""The record of processing: `manage.py privacy_report` and its admin page."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from predictions import erasure, services
from privacy.access import access_record
from privacy.retention import retention_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def held(active_model, features, settings, counsellor):
    settings.RETENTION_DAYS_RAW = 365
    with time_machine.travel(NOW - timedelta(days=100), tick=False):
        services.prediction_create(features, channel="form", consent=True)  # 90-365 days
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        labelled = services.prediction_create(features, channel="api")
        services.feedback_create(prediction_id=labelled.pk, actual=True)
        services.prediction_create(features, channel="form", consent=False)  # minimal row
        gone = services.prediction_create(features, channel="api")
        erasure.prediction_erase(gone.pk)
        access_record(via="api", user=counsellor, prediction_id=labelled.pk)


def test_it_prints_what_is_held_and_what_happened(held):
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("privacy_report", days=30, stdout=out)
    text = out.getvalue()
    assert (
        "answers without outcome: 1 (oldest 2026-02-21; 0-30 days: 0, 30-90 days: 0, "
        "90-365 days: 1, 365+ days: 0)" in text
    )
    assert "answers with outcome: 1 (oldest 2026-05-30; 0-30 days: 1," in text
    assert "minimal rows (no answers): 1" in text
    assert "consent: given 1, refused 1, not asked (API, batch, original client) 1" in text
    assert "RETENTION_DAYS_RAW=365" in text and "NO_CONSENT_STORAGE=minimal" in text
    assert "Erasures since 2026-05-02: 1 (awaiting purge from archives: 1; all time: 1)" in text
    assert "Staff reads since 2026-05-02: 1" in text and "counsellor via api: 1" in text


def test_it_reports_the_retention_runs_of_the_period(held):
    with time_machine.travel(NOW, tick=False):
        retention_run()
        out = io.StringIO()
        call_command("privacy_report", stdout=out)
    assert "awaiting purge from archives: 0" in out.getvalue()
    assert "Retention runs since 2026-05-02: 1" in out.getvalue()


def test_it_shows_the_report_in_the_admin_to_superusers(held, staff):
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-rootroot")
    client = Client()
    client.force_login(root)
    page = client.get("/admin/privacy/privacyreport/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Record of processing" in html and "answers with outcome" in html
    assert "RETENTION_DAYS_LABELLED=" in html
    client.force_login(staff)
    assert client.get("/admin/privacy/privacyreport/").status_code == 403
