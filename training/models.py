"""The reference dataset, the model registry and the record of every retrain decision."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .features import DEPARTMENTS, GENDERS


class StudentRecord(models.Model):
    """One row of the reference dataset (imported from the Kaggle CSV or generated).

    Numeric columns may be empty: real files have blank or non-numeric cells, which the
    training pipeline imputes.
    """

    student_id = models.BigIntegerField(null=True, blank=True)
    age = models.IntegerField(null=True, blank=True)
    gender = models.CharField(max_length=16, choices=[(g, g) for g in GENDERS])
    department = models.CharField(max_length=32, choices=[(d, d) for d in DEPARTMENTS])
    cgpa = models.FloatField(null=True, blank=True)
    sleep_duration = models.FloatField(null=True, blank=True)
    study_hours = models.FloatField(null=True, blank=True)
    social_media_hours = models.FloatField(null=True, blank=True)
    physical_activity = models.IntegerField(null=True, blank=True)
    stress_level = models.IntegerField(null=True, blank=True)
    depression = models.BooleanField()
    dataset = models.ForeignKey("DatasetImport", on_delete=models.PROTECT, related_name="records")
    source_row = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # Re-importing the same file adds nothing twice.
            models.UniqueConstraint(fields=["dataset", "source_row"], name="unique_dataset_row"),
        ]

    def __str__(self):
        return f"Student {self.student_id or self.pk}"


class DatasetImport(models.Model):
    """One imported (or generated) file of reference data, identified by its content hash."""

    source = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64, unique=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_added = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, blank=True)
    missing = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.source} ({self.rows_added} rows)"


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        REJECTED = "rejected", "Rejected"

    version = models.PositiveIntegerField(unique=True)
    algorithm = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices)
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, help_text="Test-split metrics of this model.")
    intervals = models.JSONField(
        default=dict, blank=True, help_text="95 % bootstrap intervals of the test metrics."
    )
    calibration = models.JSONField(
        default=dict, blank=True, help_text="ECE, Brier and reliability curve, before and after."
    )
    groups = models.JSONField(
        default=dict, blank=True, help_text="Per Gender and Department metrics on the test split."
    )
    data_summary = models.JSONField(
        default=dict, blank=True, help_text="Training data: sources, rows, ranges (model card)."
    )
    candidates = models.JSONField(default=list, help_text="Every candidate of its training run.")
    selection_metric = models.CharField(max_length=32)
    threshold = models.FloatField()
    train_rows = models.PositiveIntegerField()
    data_fingerprint = models.CharField(max_length=64)
    seed = models.IntegerField()
    library_versions = models.JSONField(default=dict)
    artifact_path = models.CharField(
        max_length=255, help_text='Name in the "artifacts" storage (not a path of a host).'
    )
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.PositiveBigIntegerField()
    reference_path = models.CharField(
        max_length=255,
        help_text='Training rows and held-out scores: name in the "artifacts" storage.',
    )
    reference_sha256 = models.CharField(max_length=64)
    run = models.ForeignKey(
        "RetrainRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    files_pruned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A rejected version's files deleted (KEEP_REJECTED_VERSIONS).",
    )

    class Meta:
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

    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="activations")
    previous = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"v{self.version.version} activated: {self.reason}"


class RetrainRun(models.Model):
    """One evaluation of the retrain decision, recorded also when nothing fires."""

    class Trigger(models.TextChoices):
        INITIAL = "initial", "Initial training"
        SCHEDULED = "scheduled", "Schedule"
        FEEDBACK = "feedback", "Feedback threshold"
        MANUAL = "manual", "Staff request"

    class Decision(models.TextChoices):
        # A staff request (API, admin) is recorded before its task is queued, so the caller
        # gets a run id at once; only the worker moves it on to running.
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PROMOTED = "promoted", "Promoted"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed"
        SKIPPED_NO_TRIGGER = "skipped_no_trigger", "Skipped: no trigger"
        SKIPPED_ALREADY_RUNNING = "skipped_already_running", "Skipped: already running"
        SKIPPED_UNCHANGED_DATA = "skipped_unchanged_data", "Skipped: same data as last rejected"

    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    decision = models.CharField(max_length=32, choices=Decision.choices, default="running")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.CharField(max_length=500, blank=True, help_text="What the requester wrote.")
    reason = models.CharField(max_length=500, blank=True, help_text="Why this decision.")
    triggers = models.JSONField(default=dict, blank=True, help_text="Measured value vs threshold.")
    step_seconds = models.JSONField(default=dict, blank=True)
    candidates = models.JSONField(default=list, blank=True)
    selection_metric = models.CharField(max_length=32, blank=True)
    champion = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    champion_score = models.FloatField(null=True, blank=True)
    challenger_score = models.FloatField(null=True, blank=True)
    comparison = models.JSONField(
        default=dict,
        blank=True,
        help_text="Paired difference challenger - champion with its interval; ECE and gap checks.",
    )
    new_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rows_reference = models.PositiveIntegerField(default=0)
    rows_production = models.PositiveIntegerField(default=0)
    rows_merged = models.PositiveIntegerField(default=0)
    duplicates_removed = models.PositiveIntegerField(default=0)
    archive_path = models.CharField(
        max_length=255, blank=True, help_text='Name in the "archive" storage.'
    )
    task_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of a running retrain's worker."
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
