"""Monitoring runs, the Evidently reports they keep, and the alerts they raise."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class MonitoringRun(models.Model):
    """One execution of the three reports; at most one runs at a time."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("OK")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    status = models.CharField(
        max_length=16, choices=Status.choices, default="running", verbose_name=_("status")
    )
    trigger = models.CharField(max_length=32, default="scheduled", verbose_name=_("trigger"))
    reason = models.CharField(max_length=500, blank=True, verbose_name=_("reason"))
    task_id = models.CharField(max_length=255, blank=True, verbose_name=_("task id"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("monitoring run")
        verbose_name_plural = _("monitoring runs")
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
        DATA_QUALITY = "data_quality", _("Data quality")
        DATA_DRIFT = "data_drift", _("Data drift")
        MODEL_PERFORMANCE = "model_performance", _("Model performance")

    class Status(models.TextChoices):
        OK = "ok", _("OK")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    run = models.ForeignKey(
        MonitoringRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reports",
        verbose_name=_("run"),
    )
    kind = models.CharField(max_length=32, choices=Kind.choices, verbose_name=_("kind"))
    status = models.CharField(max_length=16, choices=Status.choices, verbose_name=_("status"))
    window_start = models.DateTimeField(null=True, blank=True, verbose_name=_("window start"))
    window_end = models.DateTimeField(null=True, blank=True, verbose_name=_("window end"))
    model_version = models.ForeignKey(
        "training.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("model version"),
    )
    reference_rows = models.PositiveIntegerField(default=0, verbose_name=_("reference rows"))
    current_rows = models.PositiveIntegerField(default=0, verbose_name=_("current rows"))
    summary = models.JSONField(default=dict, blank=True, verbose_name=_("summary"))
    html_path = models.CharField(
        max_length=255,
        blank=True,
        help_text=_('Name in the "reports" storage.'),
        verbose_name=_("html path"),
    )
    duration_seconds = models.FloatField(null=True, blank=True, verbose_name=_("duration seconds"))
    reason = models.CharField(max_length=500, blank=True, verbose_name=_("reason"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )

    class Meta:
        verbose_name = _("monitoring report")
        verbose_name_plural = _("monitoring reports")
        ordering = ["-created_at"]
        permissions = [("run_reports", "Can run the monitoring reports now")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class Overview(MonitoringReport):
    """No data of its own: gives the admin index a link to the monitoring overview page."""

    class Meta:
        proxy = True
        verbose_name = _("overview")
        verbose_name_plural = _("overview")


class Alert(models.Model):
    class Severity(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        CRITICAL = "critical", _("Critical")

    kind = models.CharField(max_length=64, verbose_name=_("kind"))
    severity = models.CharField(max_length=16, choices=Severity.choices, verbose_name=_("severity"))
    message = models.CharField(max_length=1000, verbose_name=_("message"))
    context = models.JSONField(default=dict, blank=True, verbose_name=_("context"))
    dedup_key = models.CharField(
        max_length=200, help_text=_("Same condition, same key."), verbose_name=_("dedup key")
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True, verbose_name=_("acknowledged at"))
    delivery = models.JSONField(
        default=dict, blank=True, help_text=_("Per channel outcome."), verbose_name=_("delivery")
    )
    repeats = models.PositiveIntegerField(
        default=0,
        help_text=_("Times the condition held again while this alert was open."),
        verbose_name=_("repeats"),
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen at"))

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
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
