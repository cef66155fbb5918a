"""The record of processing: what personal data MindPulse holds, since when, who read it.

What a data-protection officer asks for, read from the tables (nothing is stored for it):
counts by table and age band, the oldest row of each category, the retention settings, the
erasures, access records and retention runs of a period.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from filestore import files
from filestore.local import SettingDirStorage
from monitoring.models import MonitoringReport
from predictions.models import Feedback, Prediction

from .models import AccessRecord, Erasure, RetentionRun

AGE_BANDS = ((0, 30), (30, 90), (90, 365), (365, None))  # days


def privacy_report(*, since: datetime | None = None, now: datetime | None = None) -> dict:
    """Plain values only (the command prints them, the admin page renders them)."""
    now = now or timezone.now()
    since = since or now - timedelta(days=30)
    with_answers = Prediction.objects.filter(age__isnull=False)
    categories = {
        "answers without outcome": with_answers.filter(feedback__isnull=True),
        "answers with outcome": with_answers.filter(feedback__isnull=False),
        "minimal rows (no answers)": Prediction.objects.filter(age__isnull=True),
    }
    held = []
    for name, queryset in categories.items():
        aggregates = {"oldest": Min("created_at")}
        for index, (low, high) in enumerate(AGE_BANDS):
            band = Q(created_at__lte=now - timedelta(days=low))
            if high is not None:
                band &= Q(created_at__gt=now - timedelta(days=high))
            aggregates[f"band{index}"] = Count("pk", filter=band)
        values = queryset.aggregate(**aggregates)
        bands = {
            _band_label(low, high): values[f"band{index}"]
            for index, (low, high) in enumerate(AGE_BANDS)
        }
        held.append({"category": name, "bands": bands, "total": sum(bands.values()),
                     "oldest": values["oldest"]})  # fmt: skip
    accesses = AccessRecord.objects.filter(at__gte=since)
    return {
        "generated_at": now,
        "since": since,
        "held": held,
        "feedback_rows": Feedback.objects.count(),
        "consent": dict(
            Prediction.objects.values_list("consent").annotate(n=Count("pk")).order_by()
        ),
        "files": {
            "archives": _files(files.storage(files.ARCHIVE)),
            "exports": _files(SettingDirStorage("EXPORTS_DIR")),
            "report_html": MonitoringReport.objects.exclude(html_path="").count(),
        },
        "retention": {
            "RETENTION_DAYS_RAW": settings.RETENTION_DAYS_RAW,
            "RETENTION_DAYS_LABELLED": settings.RETENTION_DAYS_LABELLED,
            "RETENTION_DAYS_ARCHIVES": settings.RETENTION_DAYS_ARCHIVES,
            "NO_CONSENT_STORAGE": settings.NO_CONSENT_STORAGE,
            "CONSENT_VERSION": settings.CONSENT_VERSION,
        },
        "erasures": {
            "in_period": Erasure.objects.filter(erased_at__gte=since).count(),
            "awaiting_purge": Erasure.objects.filter(purged_at__isnull=True).count(),
            "total": Erasure.objects.count(),
        },
        "accesses": {
            "in_period": accesses.count(),
            "by_actor_and_way": list(
                accesses.values("actor", "via").annotate(reads=Count("pk")).order_by("actor", "via")
            ),
        },
        "retention_runs": list(
            RetentionRun.objects.filter(started_at__gte=since).values(
                "pk", "status", "started_at", "actions"
            )[:20]
        ),
    }


def _band_label(low: int, high: int | None) -> str:
    return f"{low}+ days" if high is None else f"{low}-{high} days"


def _files(storage) -> dict:
    names = list(files.walk(storage))
    oldest = min((files.modified_at(storage, name) for name in names), default=None)
    return {
        "count": len(names),
        "oldest": None if oldest is None else oldest.astimezone(UTC),
    }


def report_text(report: dict) -> str:
    """The report as the command prints it."""
    lines = [
        f"MindPulse record of processing, {report['generated_at']:%Y-%m-%d %H:%M %Z}",
        "",
        "Personal data held (predictions, by age):",
    ]
    for row in report["held"]:
        oldest = f"{row['oldest']:%Y-%m-%d}" if row["oldest"] else "-"
        bands = ", ".join(f"{k}: {v}" for k, v in row["bands"].items())
        lines.append(f"  {row['category']}: {row['total']} (oldest {oldest}; {bands})")
    lines.append(f"  feedback rows (outcomes): {report['feedback_rows']}")
    consent = report["consent"]
    lines.append(
        f"  consent: given {consent.get(True, 0)}, refused {consent.get(False, 0)}, "
        f"not asked (API, batch, original client) {consent.get(None, 0)}"
    )
    for name, info in report["files"].items():
        if isinstance(info, dict):
            oldest = f"{info['oldest']:%Y-%m-%d}" if info["oldest"] else "-"
            lines.append(f"  {name}: {info['count']} files (oldest {oldest})")
        else:
            lines.append(f"  {name}: {info} report files")
    lines += ["", "Retention settings:"]
    lines += [f"  {key}={value}" for key, value in report["retention"].items()]
    since = f"{report['since']:%Y-%m-%d}"
    erasures = report["erasures"]
    lines += [
        "",
        f"Erasures since {since}: {erasures['in_period']} (awaiting purge from archives: "
        f"{erasures['awaiting_purge']}; all time: {erasures['total']})",
        f"Staff reads since {since}: {report['accesses']['in_period']}",
    ]
    lines += [
        f"  {row['actor']} via {row['via']}: {row['reads']}"
        for row in report["accesses"]["by_actor_and_way"]
    ]
    lines.append(f"Retention runs since {since}: {len(report['retention_runs'])}")
    lines += [
        f"  #{run['pk']} {run['started_at']:%Y-%m-%d %H:%M} {run['status']}: "
        + ", ".join(f"{k}={v}" for k, v in run["actions"].items())
        for run in report["retention_runs"]
    ]
    return "\n".join(lines)
