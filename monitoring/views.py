"""Staff pages of the monitoring app, mounted inside the admin (see MonitoringReportAdmin).

Each view checks staff status and its permission itself, so it stays closed even if it were
routed outside the admin. The Evidently HTML files are served only from here, never from a
public static or media URL.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from . import charts, selectors, tasks
from .models import MonitoringReport

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "monitoring.view_monitoringreport"
RUN_PERMISSION = "monitoring.run_reports"

# The report is our own file, but it carries production values and runs Evidently's bundled
# scripts: sandboxed (an opaque origin without access to the admin's cookies or DOM), no
# network, inline scripts and styles only.
REPORT_CSP = (
    "sandbox allow-scripts allow-popups; default-src 'none'; "
    "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)


def _context(request, **extra) -> dict:
    return {**admin.site.each_context(request), "opts": MonitoringReport._meta, **extra}


@staff_member_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
def report_page(request, pk: int):
    """The Evidently report in an iframe, under the admin's header and breadcrumbs."""
    report = get_object_or_404(MonitoringReport.objects.select_related("model_version"), pk=pk)
    return TemplateResponse(
        request,
        "admin/monitoring/report.html",
        _context(
            request,
            title=str(report),
            report=report,
            headline=selectors.headline(report),
            has_file=selectors.report_exists(report),
        ),
    )


@xframe_options_sameorigin
@staff_member_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
def report_html(request, pk: int):
    """The Evidently HTML file itself (it embeds its own JavaScript)."""
    report = get_object_or_404(MonitoringReport, pk=pk)
    handle = selectors.report_file(report)
    if handle is None:
        if report.html_path:
            logger.warning("monitoring_report_file_refused report=%s path=%r", pk, report.html_path)
        raise Http404("This report has no HTML file.")
    response = FileResponse(handle, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = REPORT_CSP
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
@staff_member_required
@permission_required(RUN_PERMISSION, raise_exception=True)
def run_now(request):
    """Queue a run on the worker; a broker that cannot be reached is a message, not a 500."""
    try:
        result = tasks.reports_enqueue(trigger="admin")
    except (OperationalError, OSError) as exc:
        logger.error("monitoring_run_not_queued error=%s", exc)
        messages.error(
            request,
            f"The reports could not be queued: the task broker is unreachable ({exc}). "
            "Try again later, or run `python manage.py run_reports` on the server.",
        )
    else:
        messages.success(
            request,
            f"Reports queued (task {result.id}). They appear here once the worker has run them.",
        )
    return redirect("admin:monitoring_monitoringreport_changelist")


@staff_member_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
def overview(request):
    """Trends at a glance: drift share, production accuracy and F1, volumes, latest drift."""
    drift = selectors.drift_series()
    performance = selectors.performance_series()
    latest_drift = selectors.latest_drift_report()
    drift_chart = charts.line_chart(
        [
            {
                "name": "drift share",
                "css": "drift",
                "points": [(p["at"], p["drift_share"]) for p in drift],
            }
        ],
        threshold=settings.DRIFT_THRESHOLD,
    )
    performance_chart = charts.line_chart(
        [
            {"name": name, "css": css, "points": [(p["at"], p[key]) for p in performance]}
            for name, css, key in (
                ("accuracy", "accuracy", "accuracy"),
                ("F1", "f1", "f1"),
                ("estimated accuracy (CBPE)", "accuracy estimated", "estimated_accuracy"),
                ("estimated F1 (CBPE)", "f1 estimated", "estimated_f1"),
                ("accuracy on the test split", "accuracy reference", "reference_accuracy"),
                ("F1 on the test split", "f1 reference", "reference_f1"),
            )
        ],
        threshold=settings.ACCURACY_THRESHOLD,
    )
    volumes = selectors.daily_volumes(days=30)
    volume_chart = charts.bar_chart(
        volumes, [("predictions", "predictions"), ("feedback", "feedback")]
    )
    features = latest_drift.summary.get("features", {}) if latest_drift else {}
    return TemplateResponse(
        request,
        "admin/monitoring/overview.html",
        _context(
            request,
            title="Monitoring overview",
            drift_chart=drift_chart,
            performance_chart=performance_chart,
            volume_chart=volume_chart,
            volume_totals={
                "predictions": sum(v["predictions"] for v in volumes),
                "feedback": sum(v["feedback"] for v in volumes),
            },
            latest_drift=latest_drift,
            feature_chart=charts.feature_bars(features) if features else None,
            latest_reports=[(r, selectors.headline(r)) for r in selectors.latest_reports()],
            drift_threshold=settings.DRIFT_THRESHOLD,
            accuracy_threshold=settings.ACCURACY_THRESHOLD,
            max_reports=settings.MAX_REPORTS,
            can_run=request.user.has_perm(RUN_PERMISSION),
        ),
    )
