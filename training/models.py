"""The reference dataset, the model registry and the record of every retrain decision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .features import DEPARTMENTS, GENDERS


class StudentRecord(models.Model):
    """One row of the reference dataset (imported from the Kaggle CSV or generated).

    Numeric columns may be empty: real files have blank or non-numeric cells, which the
    training pipeline imputes.
    """

    student_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("student id"))
    age = models.IntegerField(null=True, blank=True, verbose_name=_("age"))
    gender = models.CharField(
        max_length=16, choices=[(g, g) for g in GENDERS], verbose_name=_("gender")
    )
    department = models.CharField(
        max_length=32, choices=[(d, d) for d in DEPARTMENTS], verbose_name=_("department")
    )
    cgpa = models.FloatField(null=True, blank=True, verbose_name=_("cgpa"))
    sleep_duration = models.FloatField(null=True, blank=True, verbose_name=_("sleep duration"))
    study_hours = models.FloatField(null=True, blank=True, verbose_name=_("study hours"))
    social_media_hours = models.FloatField(
        null=True, blank=True, verbose_name=_("social media hours")
    )
    physical_activity = models.IntegerField(
        null=True, blank=True, verbose_name=_("physical activity")
    )
    stress_level = models.IntegerField(null=True, blank=True, verbose_name=_("stress level"))
    depression = models.BooleanField(verbose_name=_("depression"))
    dataset = models.ForeignKey(
        "DatasetImport", on_delete=models.PROTECT, related_name="records", verbose_name=_("dataset")
    )
    source_row = models.PositiveIntegerField(verbose_name=_("source row"))

    class Meta:
        verbose_name = _("student record")
        verbose_name_plural = _("student records")
        constraints = [
            # Re-importing the same file adds nothing twice.
            models.UniqueConstraint(fields=["dataset", "source_row"], name="unique_dataset_row"),
        ]

    def __str__(self):
        return f"Student {self.student_id or self.pk}"


class DatasetImport(models.Model):
    """One imported (or generated) file of reference data, identified by its content hash."""

    source = models.CharField(max_length=500, verbose_name=_("source"))
    sha256 = models.CharField(max_length=64, unique=True)
    rows_read = models.PositiveIntegerField(default=0, verbose_name=_("rows read"))
    rows_added = models.PositiveIntegerField(default=0, verbose_name=_("rows added"))
    skipped = models.JSONField(default=dict, blank=True, verbose_name=_("skipped"))
    missing = models.JSONField(default=dict, blank=True, verbose_name=_("missing"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("dataset import")
        verbose_name_plural = _("dataset imports")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.source} ({self.rows_added} rows)"


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")
        REJECTED = "rejected", _("Rejected")

    version = models.PositiveIntegerField(unique=True, verbose_name=_("version"))
    algorithm = models.CharField(max_length=32, verbose_name=_("algorithm"))
    status = models.CharField(max_length=16, choices=Status.choices, verbose_name=_("status"))
    params = models.JSONField(default=dict, verbose_name=_("params"))
    metrics = models.JSONField(
        default=dict, help_text=_("Test-split metrics of this model."), verbose_name=_("metrics")
    )
    intervals = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("95 % bootstrap intervals of the test metrics."),
        verbose_name=_("intervals"),
    )
    calibration = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("ECE, Brier and reliability curve, before and after."),
        verbose_name=_("calibration"),
    )
    groups = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Per Gender and Department metrics on the test split."),
        verbose_name=_("groups"),
    )
    data_summary = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Training data: sources, rows, ranges (model card)."),
        verbose_name=_("data summary"),
    )
    candidates = models.JSONField(
        default=list,
        help_text=_("Every candidate of its training run."),
        verbose_name=_("candidates"),
    )
    selection_metric = models.CharField(max_length=32, verbose_name=_("selection metric"))
    threshold = models.FloatField(verbose_name=_("threshold"))
    train_rows = models.PositiveIntegerField(verbose_name=_("train rows"))
    data_fingerprint = models.CharField(max_length=64, verbose_name=_("data fingerprint"))
    seed = models.IntegerField(verbose_name=_("seed"))
    library_versions = models.JSONField(default=dict, verbose_name=_("library versions"))
    artifact_path = models.CharField(
        max_length=255,
        help_text=_('Name in the "artifacts" storage (not a path of a host).'),
        verbose_name=_("artifact path"),
    )
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.PositiveBigIntegerField(verbose_name=_("artifact size"))
    reference_path = models.CharField(
        max_length=255,
        help_text=_('Training rows and held-out scores: name in the "artifacts" storage.'),
        verbose_name=_("reference path"),
    )
    reference_sha256 = models.CharField(max_length=64)
    run = models.ForeignKey(
        "RetrainRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="versions",
        verbose_name=_("run"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    activated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("activated at"))
    files_pruned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("A rejected version's files deleted (KEEP_REJECTED_VERSIONS)."),
        verbose_name=_("files pruned at"),
    )

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["-version"]
        constraints = [
            # Exactly one model answers predictions: the database refuses a second.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="one_active_model_version"
            ),
        ]

    def __str__(self):
        return f"v{self.version} {self.algorithm} ({self.status})"


class ActivationEvent(models.Model):
    """Who put which version in service, when and why (training, promotion, rollback)."""

    version = models.ForeignKey(
        ModelVersion,
        on_delete=models.PROTECT,
        related_name="activations",
        verbose_name=_("version"),
    )
    previous = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("previous"),
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("activated by"),
    )
    reason = models.CharField(max_length=500, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("activation event")
        verbose_name_plural = _("activation events")
        ordering = ["-created_at"]

    def __str__(self):
        return f"v{self.version.version} activated: {self.reason}"


class RetrainRun(models.Model):
    """One evaluation of the retrain decision, recorded also when nothing fires."""

    class Trigger(models.TextChoices):
        INITIAL = "initial", _("Initial training")
        SCHEDULED = "scheduled", _("Schedule")
        FEEDBACK = "feedback", _("Feedback threshold")
        MANUAL = "manual", _("Staff request")

    class Decision(models.TextChoices):
        # A staff request (API, admin) is recorded before its task is queued, so the caller
        # gets a run id at once; only the worker moves it on to running.
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PROMOTED = "promoted", _("Promoted")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")
        SKIPPED_NO_TRIGGER = "skipped_no_trigger", _("Skipped: no trigger")
        SKIPPED_ALREADY_RUNNING = "skipped_already_running", _("Skipped: already running")
        SKIPPED_UNCHANGED_DATA = "skipped_unchanged_data", _("Skipped: same data as last rejected")

    trigger = models.CharField(max_length=16, choices=Trigger.choices, verbose_name=_("trigger"))
    decision = models.CharField(
        max_length=32, choices=Decision.choices, default="running", verbose_name=_("decision")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("requested by"),
    )
    note = models.CharField(
        max_length=500, blank=True, help_text=_("What the requester wrote."), verbose_name=_("note")
    )
    reason = models.CharField(
        max_length=500, blank=True, help_text=_("Why this decision."), verbose_name=_("reason")
    )
    triggers = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Measured value vs threshold."),
        verbose_name=_("triggers"),
    )
    step_seconds = models.JSONField(default=dict, blank=True, verbose_name=_("step seconds"))
    candidates = models.JSONField(default=list, blank=True, verbose_name=_("candidates"))
    selection_metric = models.CharField(
        max_length=32, blank=True, verbose_name=_("selection metric")
    )
    champion = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("champion"),
    )
    champion_score = models.FloatField(null=True, blank=True, verbose_name=_("champion score"))
    challenger_score = models.FloatField(null=True, blank=True, verbose_name=_("challenger score"))
    comparison = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Paired difference challenger - champion with its interval; ECE and gap checks."
        ),
        verbose_name=_("comparison"),
    )
    new_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("new version"),
    )
    rows_reference = models.PositiveIntegerField(default=0, verbose_name=_("rows reference"))
    rows_production = models.PositiveIntegerField(default=0, verbose_name=_("rows production"))
    rows_merged = models.PositiveIntegerField(default=0, verbose_name=_("rows merged"))
    duplicates_removed = models.PositiveIntegerField(
        default=0, verbose_name=_("duplicates removed")
    )
    archive_path = models.CharField(
        max_length=255,
        blank=True,
        help_text=_('Name in the "archive" storage.'),
        verbose_name=_("archive path"),
    )
    task_id = models.CharField(max_length=255, blank=True, verbose_name=_("task id"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    queued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("queued at"))
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Last sign of life of a running retrain's worker."),
        verbose_name=_("heartbeat at"),
    )
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("retrain run")
        verbose_name_plural = _("retrain runs")
        ordering = ["-started_at"]
        constraints = [
            # One retrain at a time, guarded by the database itself.
            models.UniqueConstraint(
                fields=["decision"], condition=Q(decision="running"), name="one_running_retrain"
            ),
            # One retrain per crossing of RETRAIN_THRESHOLD: one queued feedback request.
            models.UniqueConstraint(
                fields=["decision"],
                condition=Q(decision="queued", trigger="feedback"),
                name="one_queued_feedback_retrain",
            ),
        ]

    def __str__(self):
        return f"Retrain #{self.pk} ({self.get_decision_display()})"
