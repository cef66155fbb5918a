"""Production data: every prediction served and every outcome reported back."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from training.features import DEPARTMENTS, GENDERS


class Prediction(models.Model):
    class Channel(models.TextChoices):
        FORM = "form", _("Web form")
        API = "api", _("REST API")
        BATCH = "batch", _("Batch")

    id = models.UUIDField(
        primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("id")
    )
    # The nine answers; all NULL in a minimal row (no consent, or past RETENTION_DAYS_*). NULL,
    # not "", for the two texts too: "no answer kept" is one test (age IS NULL) for every column.
    age = models.IntegerField(null=True, verbose_name=_("age"))
    gender = models.CharField(  # noqa: DJ001
        max_length=16, choices=[(g, g) for g in GENDERS], null=True, verbose_name=_("gender")
    )
    department = models.CharField(  # noqa: DJ001
        max_length=32,
        choices=[(d, d) for d in DEPARTMENTS],
        null=True,
        verbose_name=_("department"),
    )
    cgpa = models.FloatField(null=True, verbose_name=_("cgpa"))
    sleep_duration = models.FloatField(null=True, verbose_name=_("sleep duration"))
    study_hours = models.FloatField(null=True, verbose_name=_("study hours"))
    social_media_hours = models.FloatField(null=True, verbose_name=_("social media hours"))
    physical_activity = models.IntegerField(null=True, verbose_name=_("physical activity"))
    stress_level = models.IntegerField(null=True, verbose_name=_("stress level"))
    probability = models.FloatField(verbose_name=_("probability"))
    label = models.BooleanField(
        help_text=_("Predicted: at risk of depression."), verbose_name=_("label")
    )
    threshold = models.FloatField(verbose_name=_("threshold"))
    model_version = models.ForeignKey(
        "training.ModelVersion",
        on_delete=models.PROTECT,
        related_name="predictions",
        verbose_name=_("model version"),
    )
    channel = models.CharField(max_length=8, choices=Channel.choices, verbose_name=_("channel"))
    warnings = models.JSONField(default=list, blank=True, verbose_name=_("warnings"))
    latency_ms = models.FloatField(null=True, blank=True, verbose_name=_("latency ms"))
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    consent = models.BooleanField(
        null=True,
        help_text=_(
            "Agreed to keep the answers to improve the model; empty: not asked (API, "
            "batch, the original client)."
        ),
        verbose_name=_("consent"),
    )
    consent_version = models.CharField(
        max_length=32,
        blank=True,
        help_text=_("CONSENT_VERSION of the wording answered."),
        verbose_name=_("consent version"),
    )

    class Meta:
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")
        ordering = ["-created_at"]
        permissions = [
            ("view_prediction_answers", "Can see the answers of individual predictions"),
        ]

    def __str__(self):
        return f"{self.id} p={self.probability:.3f}"

    @property
    def has_answers(self) -> bool:
        """False for a minimal row: the estimate only, kept for the counts."""
        return self.age is not None


class Feedback(models.Model):
    """The actual outcome of one prediction; consumed once by a retrain run.

    `source` and `client_key` say where the label came from: a retrain uses a label only when
    its source is trusted (RETRAIN_LABEL_SOURCES, see predictions.selectors.usable_labels).
    """

    class Source(models.TextChoices):
        # The result page, or POST /api/feedback with the id of a stored prediction.
        STUDENT_LINK = "student_link", _("Student (result link or prediction id)")
        # The original API's POST /feedback shape: features and label from anyone at once.
        ORIGINAL_API = "original_api", _("Original API (features and label together)")
        STAFF = "staff", _("Staff")
        IMPORT = "import", _("File import")

    prediction = models.OneToOneField(
        Prediction, on_delete=models.PROTECT, related_name="feedback", verbose_name=_("prediction")
    )
    actual = models.BooleanField(
        help_text=_("Actual outcome: depressed."), verbose_name=_("actual")
    )
    # Rows written by code that names no source (scripts, bulk loads) are imports; every HTTP
    # path names its own.
    source = models.CharField(
        max_length=16, choices=Source.choices, default=Source.IMPORT, verbose_name=_("source")
    )
    client_key = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text=_(
            "Keyed, rotating hash of the sender's address (never the address); "
            "empty for staff and imports."
        ),
        verbose_name=_("client key"),
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    consumed_by = models.ForeignKey(
        "training.RetrainRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consumed_feedback",
        verbose_name=_("consumed by"),
    )

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(consumed_by__isnull=True),
                name="feedback_unconsumed_idx",
            )
        ]

    def __str__(self):
        return f"Feedback on {self.prediction_id}: {self.actual}"


class FeedbackTally(models.Model):
    """Running counts of Feedback rows, kept by database triggers (migration 0002).

    The feedback answer reports the total and the retrain trigger reads the unconsumed count
    on every call; COUNT(*) over a million rows costs tens of milliseconds, these few rows
    cost one index read. The triggers fire for every writer (the ORM, bulk_create, COPY, raw
    SQL, a restore), so the sums are exact in every transaction, like COUNT(*). On Postgres
    each connection adds to its own slot (backend pid modulo SLOTS), so that concurrent
    feedback does not queue on one counter row; the counts are the sums over the slots, and
    an absent slot counts zero. Read them with predictions.selectors.feedback_counts().
    """

    SLOTS = 16

    slot = models.SmallIntegerField(primary_key=True, verbose_name=_("slot"))
    total = models.BigIntegerField(default=0, verbose_name=_("total"))
    pending = models.BigIntegerField(
        default=0, help_text=_("Feedback no retrain consumed yet."), verbose_name=_("pending")
    )
    positive = models.BigIntegerField(
        default=0,
        db_default=0,
        help_text=_("Feedback with actual = at risk."),
        verbose_name=_("positive"),
    )

    def __str__(self):
        return f"slot {self.slot}: {self.total} feedback, {self.pending} pending"


class PredictionTally(models.Model):
    """Running counts of Prediction rows for GET /metrics, kept by triggers (migration 0005).

    Per (connection slot, channel, predicted label, model version): the rows, the rows with a
    latency, their latency sum and the cumulative count at or under each bound of the latency
    histogram (le0..le11, mindpulse.metric_series.LATENCY_BUCKETS_MS). A scrape sums a few
    dozen rows instead of counting the whole predictions table 13 times.
    """

    slot = models.SmallIntegerField(verbose_name=_("slot"))
    channel = models.CharField(max_length=8, verbose_name=_("channel"))
    label = models.BooleanField(verbose_name=_("label"))
    model_version_id = models.BigIntegerField(verbose_name=_("model version id"))
    n = models.BigIntegerField(default=0, verbose_name=_("n"))
    latency_n = models.BigIntegerField(default=0, verbose_name=_("latency n"))
    latency_sum = models.FloatField(default=0, verbose_name=_("latency sum"))
    le0 = models.BigIntegerField(default=0)
    le1 = models.BigIntegerField(default=0)
    le2 = models.BigIntegerField(default=0)
    le3 = models.BigIntegerField(default=0)
    le4 = models.BigIntegerField(default=0)
    le5 = models.BigIntegerField(default=0)
    le6 = models.BigIntegerField(default=0)
    le7 = models.BigIntegerField(default=0)
    le8 = models.BigIntegerField(default=0)
    le9 = models.BigIntegerField(default=0)
    le10 = models.BigIntegerField(default=0)
    le11 = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("slot", "channel", "label", "model_version_id"),
                name="predictions_predictiontally_key",
            )
        ]

    def __str__(self):
        return f"slot {self.slot} {self.channel} {self.label} v{self.model_version_id}: {self.n}"
