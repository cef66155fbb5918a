"""JSON fields read as tables in the admin: labels, percentages for shares, numbers with a
sensible precision, nested values as nested tables, everything escaped."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from mindpulse.admin import json_table, number_text
from monitoring.models import Alert, MonitoringReport


def test_it_shows_shares_as_percentages_and_rounds_other_floats():
    assert number_text(0.125, "drift_share") == "12.5%"
    assert number_text(0.0123456789012345, "missing_rate") == "1.2%"
    assert number_text(0.91234567890123456, "roc_auc") == "0.912"
    assert number_text(12.3456789, "seconds") == "12.3"
    assert number_text(123456.789, "rows") == "123\u202f457"
    assert number_text(1.5, "drift_share") == "1.500"  # not a share: above 1
    assert number_text(42, "rows") == "42" and number_text(True) == "yes"


def test_it_renders_dicts_lists_and_nesting_as_tables():
    html = str(
        json_table(
            {
                "drift_share": 0.25,
                "columns": [{"column": "Age", "p_value": 0.0312}, {"column": "CGPA"}],
                "detail": {"rows": 1200},
                "tags": ["a", "b"],
                "note": "<script>x</script>",
            }
        )
    )
    assert "<th>column</th><th>p value</th>" in html  # a list of dicts: one column per key
    assert "<td>drift share</td><td>25.0%</td>" in html
    assert "<td>0.031</td>" in html and "<td>—</td>" in html  # a missing key: a dash
    assert "<td>rows</td><td>1\u202f200</td>" in html  # nested dict: a nested table
    assert "<td>a, b</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert json_table({}) == "—" and json_table(None) == "—"
    mixed = str(json_table([{"bin": 1}, [0.5, 0.25], "x<y"]))  # a row per item, escaped
    assert "<td><table" in mixed and "<td>0.500, 0.250</td>" in mixed and "x&lt;y" in mixed


@pytest.mark.django_db
def test_it_shows_a_report_summary_and_an_alert_context_as_tables():
    admin = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-long-1")
    client = Client()
    client.force_login(admin)
    report = MonitoringReport.objects.create(
        kind=MonitoringReport.Kind.DATA_DRIFT,
        status=MonitoringReport.Status.OK,
        summary={"drift_share": 0.33333333333333331, "drifted_columns": ["Age", "CGPA"]},
        window_start=timezone.now(),
        window_end=timezone.now(),
    )
    page = client.get(f"/admin/monitoring/monitoringreport/{report.pk}/change/").content.decode()
    assert "<td>drift share</td><td>33.3%</td>" in page and "0.3333333" not in page
    assert "<td>Age, CGPA</td>" in page
    alert = Alert.objects.create(
        kind="drift",
        severity=Alert.Severity.WARNING,
        message="drift",
        dedup_key="drift",
        context={"drift_share": 0.5, "threshold": 0.3},
        delivery={"webhook": {"status": "sent", "attempts": 1}},
    )
    page = client.get(f"/admin/monitoring/alert/{alert.pk}/change/").content.decode()
    assert "<td>drift share</td><td>50.0%</td>" in page
    assert "<td>attempts</td><td>1</td>" in page
    assert '{"drift_share"' not in page  # no JSON wall
