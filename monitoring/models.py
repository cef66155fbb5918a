"""Monitoring runs, the Evidently reports they keep, and the alerts they raise."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class MonitoringRun(models.Model):
    """One execution of the three reports; at most one runs at a time."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    status = models.CharField(max_length=16, choices=Status.choices, default="running")
    trigger = models.CharField(max_length=32, default="scheduled")
    reason = models.CharField(max_length=500, blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="one_running_monitoring"
            ),
        ]

    def __str__(self):
        return f"Monitoring run #{self.pk} ({self.status})"


class MonitoringReport(models.Model):
    class Kind(models.TextChoices):
        DATA_QUALITY = "data_quality", "Data quality"
        DATA_DRIFT = "data_drift", "Data drift"
        MODEL_PERFORMANCE = "model_performance", "Model performance"

    class Status(models.TextChoices):
        OK = "ok", "OK"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(
        MonitoringRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(
        "training.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL
    )
    reference_rows = models.PositiveIntegerField(default=0)
    current_rows = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    html_path = models.CharField(
        max_length=255, blank=True, help_text='Name in the "reports" storage.'
    )
    duration_seconds = models.FloatField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("run_reports", "Can run the monitoring reports now")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class Overview(MonitoringReport):
    """No data of its own: gives the admin index a link to the monitoring overview page."""

    class Meta:
        proxy = True
        verbose_name = "overview"
        verbose_name_plural = "overview"


class Alert(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    kind = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    message = models.CharField(max_length=1000)
    context = models.JSONField(default=dict, blank=True)
    dedup_key = models.CharField(max_length=200, help_text="Same condition, same key.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    delivery = models.JSONField(default=dict, blank=True, help_text="Per channel outcome.")
    repeats = models.PositiveIntegerField(
        default=0, help_text="Times the condition held again while this alert was open."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # No alert storms: one open alert per condition.
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(acknowledged_at__isnull=True),
                name="one_open_alert_per_condition",
            ),
        ]

    def __str__(self):
        return f"[{self.severity}] {self.message}"
