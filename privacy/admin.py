"""Erasures, access records, retention runs and the record of processing: superusers only.

The access records say which staff member read whose answers; they are for whoever
supervises the staff, not for the staff themselves.
"""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from mindpulse.admin import ReadOnlyAdmin

from .models import AccessRecord, Erasure, PrivacyReport, RetentionRun
from .report import privacy_report


class SuperuserOnlyAdmin(ReadOnlyAdmin):
    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser


@admin.register(AccessRecord)
class AccessRecordAdmin(SuperuserOnlyAdmin):
    list_display = ("at", "actor", "via", "prediction_id", "rows", "answers_shown", "reason")
    list_filter = ("via", "answers_shown")
    search_fields = ("actor", "=prediction_id")
    date_hierarchy = "at"


@admin.register(Erasure)
class ErasureAdmin(SuperuserOnlyAdmin):
    list_display = ("prediction_id", "predicted_at", "erased_at", "purged_at")
    date_hierarchy = "erased_at"


@admin.register(RetentionRun)
class RetentionRunAdmin(SuperuserOnlyAdmin):
    list_display = ("pk", "started_at", "status", "dry_run", "actions", "finished_at")
    list_filter = ("status", "dry_run")


@admin.register(PrivacyReport)
class PrivacyReportAdmin(SuperuserOnlyAdmin):
    """/admin/privacy/privacyreport/: `manage.py privacy_report` as a page."""

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("", wrap(self.report_view), name="privacy_privacyreport_changelist")]

    def report_view(self, request):
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Record of processing"),
            "report": privacy_report(),
        }
        return TemplateResponse(request, "admin/privacy/report.html", context)
