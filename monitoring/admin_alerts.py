"""Alerts in the Django admin: the list, "Acknowledge" and "Deliver again".

Alerts are written by the system only; staff read them and acknowledge them. Acknowledging
re-arms the condition: its next occurrence raises a new alert. Both actions need the change
permission on alerts; nothing else about an alert can be edited or deleted here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from mindpulse.admin import JsonTablesMixin

from . import delivery
from .alerts import alert_acknowledge
from .models import Alert


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("acknowledged", _("Acknowledged"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(acknowledged_at=None)
        if self.value() == "acknowledged":
            return queryset.exclude(acknowledged_at=None)
        return queryset


@admin.register(Alert)
class AlertAdmin(JsonTablesMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "severity",
        "kind",
        "message",
        "repeats",
        "delivery_status",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_filter = (OpenFilter, "severity", "kind")
    list_select_related = ("acknowledged_by",)
    search_fields = ("message", "kind")
    date_hierarchy = "created_at"
    actions = ["acknowledge", "deliver_again"]
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The actions need it on the list; an alert's own page stays read-only.
        return obj is None and super().has_change_permission(request)

    @admin.display(description=_("delivery"))
    def delivery_status(self, alert: Alert):
        if not alert.delivery:
            return _("no channel configured")
        return format_html_join(
            ", ",
            "{}: {} ({})",
            (
                (channel, entry.get("status"), entry.get("attempts", 0))
                for channel, entry in sorted(alert.delivery.items())
            ),
        )

    @admin.action(description=_("Acknowledge selected alerts"), permissions=["change"])
    def acknowledge(self, request, queryset):
        count = alert_acknowledge(queryset, request.user)
        self.message_user(
            request, _("%(count)s alert(s) acknowledged.") % {"count": count}, messages.SUCCESS
        )

    @admin.action(description=_("Deliver selected alerts again"), permissions=["change"])
    def deliver_again(self, request, queryset):
        """Queue the channels that failed or were never queued (after fixing a webhook URL)."""
        count = sum(delivery.requeue(alert) for alert in queryset)
        self.message_user(
            request, _("%(count)s delivery task(s) queued.") % {"count": count}, messages.INFO
        )
