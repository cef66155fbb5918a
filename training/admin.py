from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from mindpulse.admin import ReadOnlyAdmin, html_table, short_datetime

from . import artifacts, retrain, services, triggers
from .models import ActivationEvent, DatasetImport, ModelVersion, RetrainRun, StudentRecord


class ActivationInline(admin.TabularInline):
    """Who put this version in service, when and why (training, promotion, rollback)."""

    model = ActivationEvent
    fk_name = "version"
    fields = ("created_at", "previous", "activated_by", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("Activation history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ActivateForm(forms.Form):
    reason = forms.CharField(
        max_length=400,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label=_("Reason"),
        help_text=_("Recorded with your name and the time in the activation history."),
    )


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "version",
        "algorithm",
        "status",
        "roc_auc",
        "f1",
        "ece",
        "cutoff",
        "train_rows",
        "run",
        "created",
        "activated",
    )
    list_filter = ("status", "algorithm")
    ordering = ("-version",)
    inlines = [ActivationInline]
    actions = ["activate_version"]

    def changelist_view(self, request, extra_context=None):
        from .checks import accuracy_threshold_problem

        problem = accuracy_threshold_problem()
        if problem:
            self.message_user(request, problem, messages.WARNING)
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("ROC AUC"))
    def roc_auc(self, obj):
        return _fmt(obj.metrics.get("roc_auc"))

    @admin.display(description=_("F1"))
    def f1(self, obj):
        return _fmt(obj.metrics.get("f1"))

    @admin.display(description=_("ECE"))
    def ece(self, obj):
        return _fmt(obj.metrics.get("ece"))

    @admin.display(description=_("threshold"), ordering="threshold")
    def cutoff(self, obj):
        return _fmt(obj.threshold)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj):
        return short_datetime(obj.created_at)

    @admin.display(description=_("activated at"), ordering="activated_at")
    def activated(self, obj):
        return short_datetime(obj.activated_at)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        from .views import card_context

        version = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if version is not None:
            extra.update(card_context(version))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def has_activate_permission(self, request):
        # Putting a model in service changes every answer: Django's change permission on
        # model versions (superusers have it) rather than mere staff status.
        return request.user.has_perm("training.change_modelversion")

    @admin.action(description=_("Activate this version (rollback)"), permissions=["activate"])
    def activate_version(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to activate."), messages.ERROR)
            return None
        version = queryset.get()
        if version.status == ModelVersion.Status.ACTIVE:
            self.message_user(
                request,
                _("v%(version)s is already in service.") % {"version": version.version},
                messages.INFO,
            )
            return None
        form = ActivateForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = f"admin: {form.cleaned_data['reason']}"
            try:
                services.model_activate_verified(version, by=request.user, reason=reason)
            except artifacts.ArtifactError as exc:
                self.message_user(
                    request,
                    _("v%(version)s was not activated: %(error)s")
                    % {"version": version.version, "error": exc},
                    messages.ERROR,
                )
                return None
            self.message_user(
                request,
                _(
                    "v%(version)s (%(algorithm)s) is in service; every process answers with "
                    "it within seconds."
                )
                % {"version": version.version, "algorithm": version.algorithm},
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Activate v%(version)s?") % {"version": version.version},
            "opts": self.model._meta,
            "version": version,
            "active": ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first(),
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/training/modelversion/activate.html", context)


@admin.register(ActivationEvent)
class ActivationEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "version", "previous", "activated_by", "reason")


@admin.register(StudentRecord)
class StudentRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "student_id",
        "age",
        "gender",
        "department",
        "cgpa",
        "stress_level",
        "depression",
    )
    list_filter = ("depression", "gender", "department")
    show_full_result_count = False


@admin.register(DatasetImport)
class DatasetImportAdmin(ReadOnlyAdmin):
    list_display = ("source", "rows_read", "rows_added", "created_at")


class RetrainNowForm(forms.Form):
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        label=_("Note"),
        help_text=_("Why you ask (optional; kept on the run)."),
    )


@admin.register(RetrainRun)
class RetrainRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "started",
        "trigger",
        "decision",
        "requested_by",
        "fired",
        "scores",
        "new_version",
        "rows_production",
        "duration",
    )
    list_filter = ("decision", "trigger")
    list_select_related = ("requested_by", "new_version")
    change_list_template = "admin/training/retrainrun/change_list.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "trigger",
                    "decision",
                    "reason",
                    "requested_by",
                    "note",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "task_id",
                )
            },
        ),
        (_("Triggers: measured value against threshold"), {"fields": ("triggers_table",)}),
        (
            _("Models: candidates side by side with the model in service"),
            {
                "fields": (
                    "selection_metric",
                    "champion",
                    "champion_score",
                    "challenger_score",
                    "new_version",
                    "candidates_table",
                )
            },
        ),
        (
            _("Data"),
            {
                "fields": (
                    "rows_reference",
                    "rows_production",
                    "duplicates_removed",
                    "rows_merged",
                    "archive_path",
                )
            },
        ),
        (_("Durations (seconds)"), {"fields": ("steps_table",)}),
        (_("Error"), {"fields": ("error",), "classes": ("collapse",)}),
    )
    readonly_fields = ("triggers_table", "candidates_table", "steps_table")

    def get_urls(self):
        view = self.admin_site.admin_view(self.retrain_now_view)
        return [path("retrain/", view, name="training_retrainrun_retrain"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_retrain": self.has_view_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def retrain_now_view(self, request):
        """Queue a retrain (the manual trigger) for the signed-in staff member."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = RetrainNowForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                run = retrain.retrain_request(
                    requested_by=request.user, note=form.cleaned_data["note"]
                )
            except retrain.QueueUnavailable as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return redirect("admin:training_retrainrun_changelist")
            self.message_user(
                request,
                _("Retrain #%(run)s is queued; this page shows its decision when it finishes.")
                % {"run": run.pk},
                messages.SUCCESS,
            )
            return redirect("admin:training_retrainrun_change", run.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Retrain now"),
            "opts": self.model._meta,
            "form": form,
            "running": RetrainRun.objects.filter(decision=RetrainRun.Decision.RUNNING).first(),
        }
        return TemplateResponse(request, "admin/training/retrainrun/retrain_now.html", context)

    @admin.display(description=_("started at"), ordering="started_at")
    def started(self, obj):
        return short_datetime(obj.started_at)

    @admin.display(description=_("Fired"))
    def fired(self, obj):
        return ", ".join(triggers.fired(obj.triggers or {})) or "—"

    @admin.display(description=_("Challenger / in service"))
    def scores(self, obj):
        if obj.challenger_score is None and obj.champion_score is None:
            return "—"
        return f"{_fmt(obj.challenger_score)} / {_fmt(obj.champion_score)}"

    @admin.display(description=_("Seconds"))
    def duration(self, obj):
        total = (obj.step_seconds or {}).get("total")
        return "—" if total is None else f"{total:.1f}"

    @admin.display(description=_("Triggers"))
    def triggers_table(self, obj):
        rows = [
            (
                name,
                _value(t.get("value")),
                t.get("rule", ""),
                _value(t.get("threshold")),
                _("FIRED") if t.get("fired") else _("no"),
                " — ".join(x for x in (t.get("source", ""), t.get("note", "")) if x),
            )
            for name in triggers.ORDER
            if (t := (obj.triggers or {}).get(name)) is not None
        ]
        if not rows:
            return "—"
        return html_table(
            (_("trigger"), _("value"), "", _("threshold"), _("fired"), _("source")), rows
        )

    @admin.display(description=_("Candidates (test split) and the gate's comparison"))
    def candidates_table(self, obj):
        metrics = ("roc_auc", "average_precision", "f1", "accuracy", "recall", "precision")
        rows = []
        for c in obj.candidates or []:
            role = c.get("role") or (_("winner") if c.get("winner") else _("candidate"))
            if c.get("gate"):
                role = _("%(role)s, on the %(rows)s compared rows") % {
                    "role": role,
                    "rows": c["rows"],
                }
            name = f"v{c['version']} {c['algorithm']}" if c.get("in_service") else c["algorithm"]
            test = c.get("test") or {}
            rows.append(
                (name, role, _fmt(c.get("threshold")), *(_fmt(test.get(m)) for m in metrics))
            )
        if not rows:
            return "—"
        return html_table((_("model"), _("role"), _("threshold"), *metrics), rows)

    @admin.display(description=_("Steps"))
    def steps_table(self, obj):
        steps = obj.step_seconds or {}
        if not steps:
            return "—"
        return html_table((_("step"), _("seconds")), [(k, f"{v:.3f}") for k, v in steps.items()])


def _value(value):
    if isinstance(value, float):
        return f"{value:.3f}"
    return "—" if value is None else str(value)


def _fmt(value):
    return "—" if value is None else f"{value:.3f}"
