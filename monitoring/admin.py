"""The monitoring reports, their runs and the overview page in the Django admin.

Everything here is read-only: reports are written by runs and removed by retention (which
also deletes their files). django-celery-beat (periodic tasks, "Run selected tasks") and
django-celery-results (task results) register their own admins.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from mindpulse.admin import ReadOnlyAdmin, json_table

from . import selectors, views
from .models import MonitoringReport, MonitoringRun, Overview


def _window(report: MonitoringReport) -> str:
    if report.window_start is None or report.window_end is None:
        return "—"
    start = timezone.localtime(report.window_start)
    end = timezone.localtime(report.window_end)
    return f"{start:%m-%d %H:%M} → {end:%m-%d %H:%M}"


def _view_link(report: MonitoringReport) -> str:
    if not report.html_path:
        return "—"
    url = reverse("admin:monitoring_monitoringreport_report", args=[report.pk])
    return format_html('<a href="{}">{}</a>', url, _("View report"))


@admin.register(MonitoringReport)
class MonitoringReportAdmin(ReadOnlyAdmin):
    list_display = ("kind", "status", "window", "headline", "report", "version", "created_at")
    list_filter = ("kind", "status")
    list_select_related = ("model_version",)
    fields = (
        "kind",
        "status",
        "run",
        "window_start",
        "window_end",
        "model_version",
        "reference_rows",
        "current_rows",
        "duration_seconds",
        "headline",
        "reason",
        "error",
        "report",
        "summary_json",
        "created_at",
    )
    readonly_fields = ("headline", "report", "summary_json", "created_at")

    @admin.display(description=_("Window"))
    def window(self, obj):
        return _window(obj)

    @admin.display(description=_("Headline"))
    def headline(self, obj):
        return selectors.headline(obj)

    @admin.display(description=_("Report"))
    def report(self, obj):
        return _view_link(obj)

    @admin.display(description=_("Model"), ordering="model_version__version")
    def version(self, obj):
        return "—" if obj.model_version is None else f"v{obj.model_version.version}"

    @admin.display(description=_("Summary"))
    def summary_json(self, obj):
        return json_table(obj.summary)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/report/",
                wrap(views.report_page),
                name="monitoring_monitoringreport_report",
            ),
            path(
                "<int:pk>/report/html/",
                wrap(views.report_html),
                name="monitoring_monitoringreport_html",
            ),
            path("run/", wrap(views.run_now), name="monitoring_monitoringreport_run"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run_reports": request.user.has_perm(views.RUN_PERMISSION),
        }
        return super().changelist_view(request, extra_context)


class ReportInline(admin.TabularInline):
    model = MonitoringReport
    fields = ("kind", "status", "headline", "duration_seconds", "report")
    readonly_fields = ("headline", "report")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Headline"))
    def headline(self, obj):
        return selectors.headline(obj)

    @admin.display(description=_("Report"))
    def report(self, obj):
        return _view_link(obj)


@admin.register(MonitoringRun)
class MonitoringRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "started_at", "trigger", "status", "reason", "finished_at", "task_id")
    list_filter = ("status", "trigger")
    fields = ("status", "trigger", "reason", "error", "task_id", "started_at", "finished_at")
    readonly_fields = ("started_at",)
    inlines = [ReportInline]


@admin.register(Overview)
class OverviewAdmin(ReadOnlyAdmin):
    """/admin/monitoring/overview/: the charts page instead of a list of rows."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(views.VIEW_PERMISSION)

    def has_module_permission(self, request):
        return request.user.has_perm(views.VIEW_PERMISSION)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("", wrap(views.overview), name="monitoring_overview_changelist")]


from . import admin_alerts  # noqa: E402,F401 (registers the alerts admin)
