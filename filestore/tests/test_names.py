"""Rows name their files in a storage: the issue-15 data migration of older absolute paths."""

from __future__ import annotations

import pytest
from django.apps import apps

from filestore.files import name_from_path
from filestore.migration_helpers import storage_names
from monitoring.models import MonitoringReport, MonitoringRun


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("model-v0001.joblib", "model-v0001.joblib"),
        ("/srv/mp/artifacts/model-v0001.joblib", "model-v0001.joblib"),
        ("/srv/mp/artifacts/sub/r.html", "sub/r.html"),
        ("/elsewhere/model-v0002.joblib", "model-v0002.joblib"),
        ("", ""),
    ],
)
def test_it_turns_a_hosts_path_into_a_storage_name(value, name):
    assert name_from_path(value, "/srv/mp/artifacts") == name


@pytest.mark.django_db
def test_it_migrates_rows_that_hold_absolute_paths(settings, tmp_path):
    settings.REPORTS_DIR = tmp_path / "reports"
    run = MonitoringRun.objects.create()
    old = MonitoringReport.objects.create(
        run=run, kind="data_drift", html_path=str(tmp_path / "reports" / "data_drift" / "a.html")
    )
    new = MonitoringReport.objects.create(run=run, kind="data_quality", html_path="dq/b.html")

    storage_names("monitoring", (("MonitoringReport", "html_path", "REPORTS_DIR"),))(apps, None)

    old.refresh_from_db()
    new.refresh_from_db()
    assert old.html_path == "data_drift/a.html" and new.html_path == "dq/b.html"
