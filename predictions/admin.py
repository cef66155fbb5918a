"""Staff-only listings of production data (read-only: the rows are the audit trail)."""

from django.contrib import admin

from mindpulse.admin import BigTableAdmin

from .models import Feedback, Prediction


@admin.register(Prediction)
class PredictionAdmin(BigTableAdmin):
    list_display = (
        "id",
        "created_at",
        "channel",
        "model_version",
        "probability",
        "label",
        "has_feedback",
        "latency_ms",
    )
    # "created_at" as a filter (today, past 7 days, this month...), not a date_hierarchy: the
    # hierarchy's links come from SELECT DISTINCT over the whole table on every page view.
    list_filter = ("channel", "label", "model_version", "created_at")
    list_select_related = ("model_version", "feedback")

    @admin.display(boolean=True, description="Feedback")
    def has_feedback(self, obj):
        return hasattr(obj, "feedback")


@admin.register(Feedback)
class FeedbackAdmin(BigTableAdmin):
    list_display = ("prediction_id", "actual", "source", "client_key", "created_at", "consumed_by")
    list_filter = ("actual", "source", ("consumed_by", admin.EmptyFieldListFilter), "created_at")
    list_select_related = ("consumed_by",)
