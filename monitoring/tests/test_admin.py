"""Tests of the monitoring pages in the admin: report list, report viewer, overview, run now."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from django.urls import reverse
from kombu.exceptions import OperationalError

from monitoring import services
from monitoring.models import MonitoringReport, MonitoringRun

from .conftest import grant, shift, students

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind
REPORT_HTML = "<!DOCTYPE html><html><body><script>var evidently = 1;</script>Drift</body></html>"


@pytest.fixture
def report(settings):
    relative = "data_drift/20250101-000000-run1.html"
    path = Path(settings.REPORTS_DIR) / relative
    path.parent.mkdir(parents=True)
    path.write_text(REPORT_HTML, encoding="utf-8")
    return MonitoringReport.objects.create(
        kind=Kind.DATA_DRIFT,
        status="ok",
        html_path=relative,
        current_rows=120,
        reference_rows=3000,
        summary={"drift_share": 2 / 9, "drifted_count": 2, "n_features": 9, "dataset_drift": False},
    )


def html_url(report):
    return reverse("admin:monitoring_monitoringreport_html", args=[report.pk])


# --- The report file -------------------------------------------------------------------------


def test_it_serves_the_report_html_to_staff_with_permission(staff_client, report):
    response = staff_client.get(html_url(report))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"".join(response.streaming_content).decode() == REPORT_HTML
    assert response["X-Frame-Options"] == "SAMEORIGIN"  # shown in the admin's iframe only
    assert response["Content-Security-Policy"].startswith("sandbox allow-scripts")
    assert "no-store" in response["Cache-Control"]


def test_it_sends_anonymous_visitors_to_the_login_page(client, report):
    response = client.get(html_url(report))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_refuses_users_who_are_not_staff(client, django_user_model, report):
    user = django_user_model.objects.create_user("student", password="x")
    grant(user, "view_monitoringreport")  # even with the permission: not staff, no report
    client.force_login(user)

    response = client.get(html_url(report))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_refuses_staff_without_the_view_permission(client, django_user_model, report):
    user = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(user)

    assert client.get(html_url(report)).status_code == 403
    page = reverse("admin:monitoring_monitoringreport_report", args=[report.pk])
    assert client.get(page).status_code == 403
    assert client.get(reverse("admin:monitoring_overview_changelist")).status_code == 403


@pytest.mark.parametrize(
    "html_path",
    ["../secret.html", "data_drift/../../secret.html", "{outside}", "", "."],
)
def test_it_serves_no_file_from_outside_the_reports_folder(
    staff_client, report, settings, tmp_path, html_path
):
    secret = tmp_path / "secret.html"
    secret.write_text("SECRET", encoding="utf-8")
    report.html_path = html_path.format(outside=secret)
    report.save()

    response = staff_client.get(html_url(report))

    assert response.status_code == 404
    assert b"SECRET" not in response.content


def test_it_does_not_follow_a_link_out_of_the_reports_folder(
    staff_client, report, settings, tmp_path
):
    secret = tmp_path / "secret.html"
    secret.write_text("SECRET", encoding="utf-8")
    report.html_path = "data_drift/link.html"
    os.symlink(secret, Path(settings.REPORTS_DIR) / report.html_path)
    report.save()

    response = staff_client.get(html_url(report))

    assert response.status_code == 404


def test_it_shows_the_report_inside_the_admin(staff_client, report):
    response = staff_client.get(
        reverse("admin:monitoring_monitoringreport_report", args=[report.pk])
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert f'src="{html_url(report)}"' in content
    assert "<iframe" in content
    assert "drift share 0.22 (2/9)" in content


# --- The list --------------------------------------------------------------------------------


def test_it_lists_reports_with_their_headline_and_a_link(staff_client, report):
    MonitoringReport.objects.create(
        kind=Kind.MODEL_PERFORMANCE,
        status="ok",
        summary={"current": {"accuracy": 0.8125, "f1": 0.5, "rows": 64}},
    )
    MonitoringReport.objects.create(
        kind=Kind.MODEL_PERFORMANCE, status="skipped", reason="3 labelled prediction(s) of v1"
    )

    response = staff_client.get(reverse("admin:monitoring_monitoringreport_changelist"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "drift share 0.22 (2/9)" in content
    assert "accuracy 0.812, F1 0.500 on 64 labelled" in content
    assert "3 labelled prediction(s) of v1" in content
    page = reverse("admin:monitoring_monitoringreport_report", args=[report.pk])
    assert f'<a href="{page}">View report</a>' in content
    assert "Run reports now" not in content  # the view permission does not allow running
    filtered = staff_client.get(
        reverse("admin:monitoring_monitoringreport_changelist"), {"kind": "model_performance"}
    )
    assert "drift share" not in filtered.content.decode()


def test_it_keeps_reports_read_only(staff_client, report):
    grant(staff_client.user, "delete_monitoringreport")
    grant(staff_client.user, "change_monitoringreport")

    change = reverse("admin:monitoring_monitoringreport_change", args=[report.pk])
    response = staff_client.get(change)
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    delete = reverse("admin:monitoring_monitoringreport_delete", args=[report.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert MonitoringReport.objects.filter(pk=report.pk).exists()


def test_it_shows_runs_read_only(admin_client, report):
    run = MonitoringRun.objects.create(status="ok", trigger="command")
    report.run = run
    report.save()

    response = admin_client.get(reverse("admin:monitoring_monitoringrun_change", args=[run.pk]))

    assert response.status_code == 200
    assert "drift share 0.22" in response.content.decode()
    assert admin_client.get(reverse("admin:monitoring_monitoringrun_add")).status_code == 403


# --- Admin index and overview ------------------------------------------------------------------


def test_it_links_the_overview_and_the_celery_admins_from_the_index(admin_client):
    content = admin_client.get(reverse("admin:index")).content.decode()

    assert 'href="/admin/monitoring/overview/"' in content
    assert reverse("admin:monitoring_monitoringreport_changelist") in content
    assert reverse("admin:monitoring_monitoringrun_changelist") in content
    assert reverse("admin:django_celery_beat_periodictask_changelist") in content
    assert reverse("admin:django_celery_results_taskresult_changelist") in content


def test_it_draws_the_overview_from_the_kept_reports(staff_client, make_predictions, settings):
    settings.DRIFT_THRESHOLD = 0.2
    make_predictions(shift(students(400, seed=21)), labelled=120)
    services.reports_run()

    response = staff_client.get("/admin/monitoring/overview/")

    assert response.status_code == 200
    content = response.content.decode()
    assert content.count('<svg class="mp-chart') == 4
    assert "Per-feature drift of the latest run" in content
    assert "Sleep_Duration" in content and "Stress_Level" in content
    assert content.count('class="feature drifted"') >= 2
    assert "Last 30 days: 400 predictions, 120 outcomes reported." in content
    assert "<polyline" in content
    assert "View report" in content


def test_it_keeps_chart_numbers_unlocalised_in_french(staff_client, make_predictions, settings):
    import re

    settings.DRIFT_THRESHOLD = 0.2
    make_predictions(shift(students(200, seed=22)), labelled=80)
    services.reports_run()

    content = staff_client.get("/admin/monitoring/overview/", HTTP_ACCEPT_LANGUAGE="fr").content
    content = content.decode()

    assert '<html lang="fr"' in content
    assert "Part de dérive" in content and "MindPulse · administration" in content
    svgs = "".join(re.findall(r'<svg class="mp-chart.*?</svg>', content, re.DOTALL))
    numbers = re.findall(r' (?:cx|cy|x|y|x1|x2|y1|y2|width|height)="([^"]*)"', svgs)
    assert len(numbers) > 50
    # A French decimal comma would make "12,5" out of 12.5: every coordinate is a number.
    assert [n for n in numbers if not re.fullmatch(r"-?\d+(\.\d+)?%?", n)] == []
    for points in re.findall(r'<polyline points="([^"]+)"', content):
        for pair in points.split():
            x, y = pair.split(",")
            float(x), float(y)


def test_it_draws_an_empty_overview(staff_client):
    response = staff_client.get("/admin/monitoring/overview/")

    assert response.status_code == 200
    assert "No successful drift report yet." in response.content.decode()


# --- Run now ---------------------------------------------------------------------------------


def test_it_queues_a_run_from_the_report_list(staff_client):
    grant(staff_client.user, "run_reports")
    changelist = reverse("admin:monitoring_monitoringreport_changelist")
    assert "Run reports now" in staff_client.get(changelist).content.decode()

    with mock.patch("monitoring.tasks.run_reports.apply_async") as apply_async:
        apply_async.return_value.id = "task-123"
        response = staff_client.post(reverse("admin:monitoring_monitoringreport_run"), follow=True)

    apply_async.assert_called_once_with(kwargs={"trigger": "admin"})
    assert response.redirect_chain[-1][0] == changelist
    assert "Reports queued (task task-123)" in response.content.decode()


def test_it_shows_an_error_when_the_broker_is_unreachable(staff_client):
    grant(staff_client.user, "run_reports")

    with mock.patch(
        "monitoring.tasks.run_reports.apply_async",
        side_effect=OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    ):
        response = staff_client.post(reverse("admin:monitoring_monitoringreport_run"), follow=True)

    assert response.status_code == 200
    content = response.content.decode()
    assert "could not be queued: the task broker is unreachable" in content
    assert "Connection refused" in content


def test_it_lets_only_staff_with_the_permission_run_reports(staff_client):
    url = reverse("admin:monitoring_monitoringreport_run")
    with mock.patch("monitoring.tasks.run_reports.apply_async") as apply_async:
        assert staff_client.post(url).status_code == 403
        assert staff_client.get(url).status_code == 405
        staff_client.logout()
        assert staff_client.post(url).status_code == 302
    apply_async.assert_not_called()
