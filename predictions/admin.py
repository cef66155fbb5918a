"""Staff-only listings of production data (read-only: the rows are the audit trail)."""

from django.contrib import admin

from mindpulse.admin import ReadOnlyAdmin
from privacy.access import access_record, can_see_answers
from training.features import FEATURE_NAMES
from training.selectors import FIELD_OF

from .models import Feedback, Prediction


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
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
    list_filter = ("channel", "label", "model_version")
    list_select_related = ("model_version", "feedback")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(boolean=True, description="Feedback")
    def has_feedback(self, obj):
        return hasattr(obj, "feedback")

    def get_exclude(self, request, obj=None):
        # The answers (and the warnings, which quote them) need view_prediction_answers.
        if can_see_answers(request.user):
            return super().get_exclude(request, obj)
        return [*(FIELD_OF[name] for name in FEATURE_NAMES), "warnings"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            access_record(
                via="admin",
                user=request.user,
                prediction_id=object_id,
                answers_shown=can_see_answers(request.user),
                reason=request.GET.get("reason", ""),
            )
        return response


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ("prediction_id", "actual", "created_at", "consumed_by")
    list_filter = ("actual", ("consumed_by", admin.EmptyFieldListFilter))
    list_select_related = ("consumed_by",)
    date_hierarchy = "created_at"
    show_full_result_count = False
