"""Reads of production data (predictions and their feedback) for the other apps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from django.conf import settings
from django.db import connections
from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from training.features import FEATURE_NAMES, FIELD_OF

from .models import Feedback, FeedbackTally, Prediction

_COLUMNS = [FIELD_OF[name] for name in FEATURE_NAMES]


def production_frame(
    *, since: datetime | None = None, until: datetime | None = None, labelled_only: bool = False
) -> pd.DataFrame:
    """Predictions in a time window, in the Kaggle schema, with their outcome when known.

    Columns: the nine features, `probability`, `prediction` (0/1), `model_version`,
    `created_at`, `actual` (0/1, or NaN without feedback).
    """
    queryset = Prediction.objects.filter(age__isnull=False)  # minimal rows hold no answers
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if labelled_only:
        queryset = queryset.filter(feedback__isnull=False)
    return _production(queryset)


def _production(queryset: QuerySet) -> pd.DataFrame:
    """The frame of production_frame() for these predictions, in the order they were made."""
    fields = [*_COLUMNS, "probability", "label", "model_version__version", "created_at"]
    rows = list(queryset.order_by("created_at").values_list(*fields, "feedback__actual"))
    frame = _frame(rows)
    frame["actual"] = pd.to_numeric(frame["actual"].map({True: 1, False: 0}), errors="coerce")
    return frame


def production_sample(
    *, since: datetime, until: datetime, max_rows: int
) -> tuple[pd.DataFrame, int]:
    """production_frame() of [since, until) bounded to `max_rows`: a uniform random sample of
    the window's rows when it holds more, drawn in the database. Returns (frame, rows in the
    window)."""
    queryset = Prediction.objects.filter(
        age__isnull=False, created_at__gte=since, created_at__lt=until
    )
    queryset, window_rows = _bounded(queryset, max_rows)
    return _production(queryset), window_rows


# The Bernoulli draw expects max_rows + 5 standard deviations + 20 rows, so that it holds fewer
# than max_rows about once in ten million draws (then the report reads what was drawn and
# says so); the excess is cut at random.
def _share(max_rows: int, window_rows: int) -> float:
    return min(1.0, (max_rows + 5 * math.sqrt(max_rows) + 20) / window_rows)


# A uniform number in [0, 1) per row: Postgres' random(); SQLite's is a signed 64-bit integer.
_UNIFORM = ("random()", "(random() / 18446744073709551616.0 + 0.5)")


def _bounded(queryset: QuerySet, max_rows: int) -> tuple[QuerySet, int]:
    """`queryset` cut to at most `max_rows` rows drawn uniformly at random, and its row count.

    Only the window's rows take part: a Bernoulli draw (`random() < share`) as the window is
    read through its index, then `ORDER BY random() LIMIT max_rows` on the few drawn rows. The
    frame is then read for the drawn keys only, still within the window's filter.
    """
    window_rows = queryset.count()
    if window_rows <= max_rows:
        return queryset, window_rows
    share = _share(max_rows, window_rows)
    drawn = (
        # A constant SQL expression of this module: no value of a request reaches it.
        queryset.alias(draw=RawSQL(_UNIFORM[connections[queryset.db].vendor == "sqlite"], ()))  # noqa: S611
        .filter(draw__lt=share)
        .order_by("?")
        .values("pk")[:max_rows]
    )
    return queryset.filter(pk__in=drawn), window_rows


def _frame(rows) -> pd.DataFrame:
    """The columns of production_frame() and labelled_frame()."""
    columns = [*FEATURE_NAMES, "probability", "prediction", "model_version", "created_at"]
    frame = pd.DataFrame.from_records(rows, columns=[*columns, "actual"])
    frame["prediction"] = frame["prediction"].astype(int)
    return frame


def labelled_frame(*, since: datetime, until: datetime) -> pd.DataFrame:
    """Predictions whose feedback ARRIVED in [since, until), whenever they were made.

    The columns of production_frame(); `actual` is always known. The performance report reads
    its labelled rows here, so a label given days after its prediction is counted.
    """
    return _labelled(Feedback.objects.filter(created_at__gte=since, created_at__lt=until))


def _labelled(queryset: QuerySet) -> pd.DataFrame:
    """The frame of labelled_frame() for these feedback rows, in the order they arrived."""
    fields = [f"prediction__{c}" for c in _COLUMNS] + [
        "prediction__probability",
        "prediction__label",
        "prediction__model_version__version",
        "prediction__created_at",
        "actual",
    ]
    rows = list(queryset.order_by("created_at", "pk").values_list(*fields))
    frame = _frame(rows)
    frame["actual"] = frame["actual"].astype(int)
    return frame


def labelled_sample(*, since: datetime, until: datetime, max_rows: int) -> tuple[pd.DataFrame, int]:
    """labelled_frame() bounded to `max_rows`: all labelled rows of the window while they are
    at most `max_rows`, else a uniform random sample of them. Returns (frame, labelled rows)."""
    queryset = Feedback.objects.filter(created_at__gte=since, created_at__lt=until)
    queryset, window_rows = _bounded(queryset, max_rows)
    return _labelled(queryset), window_rows


def claimed_frame(run_id: int) -> pd.DataFrame:
    """The rows a retrain run claimed: the nine features and `Depression` from the feedback,
    then `prediction_id` (text), by which an erasure is purged from the run's archive."""
    rows = Feedback.objects.filter(consumed_by_id=run_id, prediction__age__isnull=False)
    values = list(
        rows.order_by("pk").values_list(
            *[f"prediction__{c}" for c in _COLUMNS], "actual", "prediction_id"
        )
    )
    frame = pd.DataFrame.from_records(
        values, columns=[*FEATURE_NAMES, "Depression", "prediction_id"]
    )
    frame["Depression"] = frame["Depression"].astype(bool)
    frame["prediction_id"] = frame["prediction_id"].astype(str)
    return frame


def unconsumed_feedback_count() -> int:
    return feedback_counts()[1]


def feedback_count() -> int:
    return feedback_counts()[0]


def feedback_counts() -> tuple[int, int]:
    """(all feedback, feedback no retrain has consumed yet), exact, in one query.

    Read from FeedbackTally (kept by triggers), not counted: O(1) however many rows exist.
    """
    counts = FeedbackTally.objects.aggregate(total=Sum("total"), pending=Sum("pending"))
    return counts["total"] or 0, counts["pending"] or 0


def features_of(prediction: Prediction) -> dict:
    """The nine features of a stored prediction, keyed by their Kaggle names."""
    return {name: getattr(prediction, FIELD_OF[name]) for name in FEATURE_NAMES}


def prediction_with_feedback(prediction_id) -> Prediction:
    """One prediction with its model version and feedback (raises Prediction.DoesNotExist)."""
    return Prediction.objects.select_related("model_version", "feedback").get(pk=prediction_id)


def prediction_with_answers(prediction_id) -> Prediction:
    """prediction_with_feedback() of a row that still holds its answers (not a minimal row)."""
    return Prediction.objects.select_related("model_version", "feedback").get(
        pk=prediction_id, age__isnull=False
    )


# --- Labels usable for retraining (issue 13: label provenance) ------------------------------


def trusted_labels() -> QuerySet[Feedback]:
    """Unconsumed feedback whose source a retrain may learn from (RETRAIN_LABEL_SOURCES).

    A student_link label counts only when it came MIN_LABEL_AGE or more after its prediction:
    a script that posts a prediction and its label at once does not pass for a student.
    """
    sources = set(settings.RETRAIN_LABEL_SOURCES)
    trusted = Q(source__in=sources - {Feedback.Source.STUDENT_LINK})
    if Feedback.Source.STUDENT_LINK in sources:
        trusted |= Q(
            source=Feedback.Source.STUDENT_LINK,
            created_at__gte=F("prediction__created_at") + settings.MIN_LABEL_AGE,
        )
    return Feedback.objects.filter(trusted, consumed_by__isnull=True)


def client_cap(share: float, total: int, own: int) -> int | None:
    """Most rows one client key may supply so that they are at most `share` of a retrain's
    rows, given `total` rows of which `own` are its own (None: no cap)."""
    if share >= 1:
        return None
    return math.ceil(share * (total - own) / (1 - share))


@dataclass
class UsableLabels:
    """The labels a retrain may use now: trusted, and no client key above its share.

    Rows of staff and imports (no client key) are never capped. The rows of a key above its
    share are left for a later retrain (earliest first are kept).
    """

    queryset: QuerySet
    per_key: dict[str, int]
    reference_rows: int
    share: float
    # Per key: how many of its labels agree with the served label.
    right_per_key: dict[str, int] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        total = self.reference_rows + sum(self.per_key.values())
        for key, count in self.per_key.items():
            cap = client_cap(self.share, total, count) if key else None
            if cap is not None and count > cap:
                self.caps[key] = cap

    @property
    def count(self) -> int:
        return sum(min(n, self.caps.get(key, n)) for key, n in self.per_key.items())

    def served_accuracy(self) -> tuple[int, float]:
        """(usable rows, how many the served label got right): a capped key counts in
        proportion to the part of its labels that is used."""
        right = 0.0
        for key, n in self.per_key.items():
            used = min(n, self.caps.get(key, n))
            right += self.right_per_key.get(key, 0) * used / n if n else 0
        return self.count, right

    @property
    def left_out(self) -> int:
        return sum(self.per_key.values()) - self.count

    def ids(self) -> Iterator[int]:
        if not self.caps:
            yield from self.queryset.order_by("pk").values_list("pk", flat=True).iterator()
            return
        taken: dict[str, int] = {}
        rows = self.queryset.order_by("created_at", "pk").values_list("pk", "client_key")
        for pk, key in rows.iterator():
            cap = self.caps.get(key)
            if cap is not None:
                if taken.get(key, 0) >= cap:
                    continue
                taken[key] = taken.get(key, 0) + 1
            yield pk


def usable_labels(*, reference_rows: int) -> UsableLabels:
    """The one reader of "labels usable for retraining": the retrain trigger counts it, the
    retrain claims it."""
    queryset = trusted_labels()
    counts = list(
        queryset.order_by()
        .values("client_key")
        .annotate(n=Count("pk"), right=Count("pk", filter=Q(actual=F("prediction__label"))))
    )
    return UsableLabels(
        queryset=queryset,
        per_key={row["client_key"]: row["n"] for row in counts},
        right_per_key={row["client_key"]: row["right"] for row in counts},
        reference_rows=reference_rows,
        share=settings.RETRAIN_MAX_CLIENT_SHARE,
    )


def usable_crossing(feedback: Feedback, *, reference_rows: int) -> bool:
    """Whether `feedback` made the usable labels (usable_labels().count, what the retrain's
    data trigger counts) reach RETRAIN_THRESHOLD: below it without this row, at or above
    with it. A label that is not usable itself (untrusted source, a student_link too soon,
    already consumed) crosses nothing, and costs one indexed query.
    """
    if not trusted_labels().filter(pk=feedback.pk).exists():
        return False
    labels = usable_labels(reference_rows=reference_rows)
    key = feedback.client_key
    without = dict(labels.per_key)
    without[key] = without.get(key, 1) - 1
    before = UsableLabels(
        queryset=labels.queryset,
        per_key={k: n for k, n in without.items() if n > 0},
        reference_rows=reference_rows,
        share=labels.share,
    )
    return before.count < settings.RETRAIN_THRESHOLD <= labels.count


@dataclass(frozen=True)
class LabelAnomalies:
    """What the pending labels (every source) look like, for the alerts."""

    pending: int
    # Client keys above their share of a retrain's rows: key -> (labels, cap).
    over_share: dict[str, tuple[int, int]]
    positive_share: float | None  # of the pending labels
    mean_probability: float | None  # predicted, for the same predictions


def label_anomalies(*, reference_rows: int) -> LabelAnomalies:
    pending = Feedback.objects.filter(consumed_by__isnull=True)
    counts = {
        row["client_key"]: row["n"]
        for row in pending.exclude(client_key="")
        .order_by()
        .values("client_key")
        .annotate(n=Count("pk"))
    }
    stats = pending.aggregate(
        n=Count("pk"),
        positives=Count("pk", filter=Q(actual=True)),
        probability=Avg("prediction__probability"),
    )
    n = stats["n"] or 0
    total = reference_rows + n
    share = settings.RETRAIN_MAX_CLIENT_SHARE
    over = {}
    for key, count in counts.items():
        cap = client_cap(share, total, count)
        if cap is not None and count > cap:
            over[key] = (count, cap)
    return LabelAnomalies(
        pending=n,
        over_share=over,
        positive_share=stats["positives"] / n if n else None,
        mean_probability=stats["probability"],
    )
