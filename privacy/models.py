"""What MindPulse records about its own handling of personal data.

These tables know no other app's model (ids only), so that any app can write to them and an
erased prediction leaves its erasure behind.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Erasure(models.Model):
    """A prediction its student deleted: the id and the times only, never an answer.

    The id keeps the prediction out of what was written before the deletion (retrain archives,
    report files): the next retention run purges it there and sets `purged_at`.
    """

    prediction_id = models.UUIDField(unique=True, verbose_name=_("prediction id"))
    predicted_at = models.DateTimeField(
        help_text=_("When the deleted prediction was made."), verbose_name=_("predicted at")
    )
    erased_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("erased at"))
    purged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When a retention run purged it from archives."),
        verbose_name=_("purged at"),
    )

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        ordering = ["-erased_at"]

    def __str__(self):
        return f"Erasure of {self.prediction_id} at {self.erased_at:%Y-%m-%d %H:%M}"


class AccessRecord(models.Model):
    """One staff read of personal data: an individual prediction, an export or a backup."""

    class Via(models.TextChoices):
        ADMIN = "admin", _("Admin page")
        API = "api", _("API")
        EXPORT = "export", _("CSV export")
        BACKUP = "backup", _("Backup")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("user"),
    )
    actor = models.CharField(
        max_length=150,
        help_text=_("The username, or the system account of a command."),
        verbose_name=_("actor"),
    )
    via = models.CharField(max_length=16, choices=Via.choices, verbose_name=_("via"))
    prediction_id = models.UUIDField(
        null=True, blank=True, db_index=True, verbose_name=_("prediction id")
    )
    rows = models.PositiveIntegerField(
        default=1, help_text=_("Predictions read."), verbose_name=_("rows")
    )
    answers_shown = models.BooleanField(default=True, verbose_name=_("answers shown"))
    reason = models.CharField(max_length=300, blank=True, verbose_name=_("reason"))
    at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("at"))

    class Meta:
        verbose_name = _("access record")
        verbose_name_plural = _("access records")
        ordering = ["-at"]

    def __str__(self):
        what = self.prediction_id or f"{self.rows} rows"
        return f"{self.actor} read {what} via {self.via} at {self.at:%Y-%m-%d %H:%M}"


class RetentionRun(models.Model):
    """One run of the retention task: what it removed, for the record of processing."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("OK")
        FAILED = "failed", _("Failed")

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RUNNING, verbose_name=_("status")
    )
    dry_run = models.BooleanField(default=False, verbose_name=_("dry run"))
    started_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("started at")
    )
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    actions = models.JSONField(default=dict, blank=True, verbose_name=_("actions"))
    error = models.TextField(blank=True, verbose_name=_("error"))

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at"]

    def __str__(self):
        return f"Retention run #{self.pk} ({self.status})"


class PrivacyReport(RetentionRun):
    """No data of its own: gives the admin index a link to the record of processing."""

    class Meta:
        proxy = True
        verbose_name = _("privacy report")
        verbose_name_plural = _("privacy report")
