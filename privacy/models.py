"""What MindPulse records about its own handling of personal data.

These tables know no other app's model (ids only), so that any app can write to them and an
erased prediction leaves its erasure behind.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Erasure(models.Model):
    """A prediction its student deleted: the id and the times only, never an answer.

    The id keeps the prediction out of what was written before the deletion (retrain archives,
    report files): the next retention run purges it there and sets `purged_at`.
    """

    prediction_id = models.UUIDField(unique=True)
    predicted_at = models.DateTimeField(help_text="When the deleted prediction was made.")
    erased_at = models.DateTimeField(auto_now_add=True, db_index=True)
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When a retention run purged it from archives."
    )

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self):
        return f"Erasure of {self.prediction_id} at {self.erased_at:%Y-%m-%d %H:%M}"


class AccessRecord(models.Model):
    """One staff read of personal data: an individual prediction, an export or a backup."""

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin page"
        API = "api", "API"
        EXPORT = "export", "CSV export"
        BACKUP = "backup", "Backup"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.CharField(
        max_length=150, help_text="The username, or the system account of a command."
    )
    via = models.CharField(max_length=16, choices=Via.choices)
    prediction_id = models.UUIDField(null=True, blank=True, db_index=True)
    rows = models.PositiveIntegerField(default=1, help_text="Predictions read.")
    answers_shown = models.BooleanField(default=True)
    reason = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        what = self.prediction_id or f"{self.rows} rows"
        return f"{self.actor} read {what} via {self.via} at {self.at:%Y-%m-%d %H:%M}"


class RetentionRun(models.Model):
    """One run of the retention task: what it removed, for the record of processing."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    actions = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Retention run #{self.pk} ({self.status})"


class PrivacyReport(RetentionRun):
    """No data of its own: gives the admin index a link to the record of processing."""

    class Meta:
        proxy = True
        verbose_name = "privacy report"
        verbose_name_plural = "privacy report"
