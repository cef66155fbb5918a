"""Staff-only listings of production data (read-only: the rows are the audit trail)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mindpulse.admin import ReadOnlyAdmin

from .models import Feedback, Prediction


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "created_at",
        "channel",
        "model_version",
        "risk",
        "estimate",
        "has_feedback",
        "latency",
    )
    list_filter = ("channel", "label", "model_version")
    list_select_related = ("model_version", "feedback")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(boolean=True, description=_("Feedback"))
    def has_feedback(self, obj):
        return hasattr(obj, "feedback")

    @admin.display(description=_("Prediction"), ordering="id")
    def short_id(self, obj):
        return str(obj.pk)[:8]

    @admin.display(description=_("Risk"), ordering="probability")
    def risk(self, obj):
        return f"{obj.probability:.1%}"

    @admin.display(description=_("Estimate"), ordering="label")
    def estimate(self, obj):
        return _("at risk") if obj.label else _("not at risk")

    @admin.display(description=_("Latency"), ordering="latency_ms")
    def latency(self, obj):
        return "—" if obj.latency_ms is None else f"{obj.latency_ms:.1f} ms"


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("prediction_id", "actual", "created_at", "consumed_by")
    list_filter = ("actual", ("consumed_by", admin.EmptyFieldListFilter))
    list_select_related = ("consumed_by",)
    date_hierarchy = "created_at"
    show_full_result_count = False
