"""Staff-only listings of production data (read-only: the rows are the audit trail)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mindpulse.admin import BigTableAdmin
from privacy.access import access_record, can_see_answers
from training.features import FEATURE_NAMES
from training.selectors import FIELD_OF

from .models import Feedback, Prediction


def boolean_filter(field: str, title, yes, no):
    """A list filter over a boolean field whose choices say what True and False mean."""

    class BooleanLabelFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return [("1", yes), ("0", no)]

        def queryset(self, request, queryset):
            if self.value() in ("0", "1"):
                return queryset.filter(**{field: self.value() == "1"})
            return queryset

    BooleanLabelFilter.title = title
    return BooleanLabelFilter


@admin.register(Prediction)
class PredictionAdmin(BigTableAdmin):
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
    # "created_at" as a filter (today, past 7 days, this month...), not a date_hierarchy: the
    # hierarchy's links come from SELECT DISTINCT over the whole table on every page view.
    list_filter = (
        "channel",
        boolean_filter("label", _("estimate"), _("at risk"), _("not at risk")),
        "model_version",
        "created_at",
    )
    list_select_related = ("model_version", "feedback")

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
class FeedbackAdmin(BigTableAdmin):
    list_display = ("prediction_id", "actual", "source", "client_key", "created_at", "consumed_by")
    list_filter = (
        boolean_filter("actual", _("actual outcome"), _("depressed"), _("not depressed")),
        "source",
        ("consumed_by", admin.EmptyFieldListFilter),
        "created_at",
    )
    list_select_related = ("consumed_by",)
