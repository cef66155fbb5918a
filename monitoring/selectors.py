"""Reads of the monitoring app: report files, the last window, and the overview's series."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from filestore import files

from .models import MonitoringReport, MonitoringRun

Kind = MonitoringReport.Kind
OK = MonitoringReport.Status.OK
SKIPPED = MonitoringReport.Status.SKIPPED


def report_name(relative: str) -> str | None:
    """`relative` when the reports storage accepts it as one of its names, else None.

    `html_path` comes from the database; the storage refuses a name that leaves it (".." or
    an absolute path; in a local folder, a symlink out of it too), so no row can make a view
    serve another file.
    """
    if not relative:
        return None
    try:
        files.exists(files.REPORTS, relative)
    except SuspiciousFileOperation:
        return None
    return relative


def report_file(report: MonitoringReport) -> File | None:
    """The report's HTML, open for reading, when the reports storage holds it (close it)."""
    name = report_name(report.html_path)
    if name is None:
        return None
    try:
        return files.open_file(files.REPORTS, name)
    except (OSError, SuspiciousFileOperation):
        return None


def report_exists(report: MonitoringReport) -> bool:
    name = report_name(report.html_path)
    try:
        return name is not None and files.exists(files.REPORTS, name)
    except SuspiciousFileOperation:
        return False


def last_successful_window_end() -> datetime | None:
    """End of the window of the latest run that finished `ok`."""
    reports = MonitoringReport.objects.filter(run__status=MonitoringRun.Status.OK)
    return reports.aggregate(end=Max("window_end"))["end"]


def headline(report: MonitoringReport) -> str:
    """One line for lists: the drift share, the production accuracy, or the quality counts."""
    summary = report.summary or {}
    if report.status != OK:
        return report.reason or (report.error.splitlines() or [""])[0]
    if report.kind == Kind.DATA_DRIFT:
        flag = " — dataset drift" if summary.get("dataset_drift") else ""
        return (
            f"drift share {summary.get('drift_share', 0):.2f} "
            f"({summary.get('drifted_count', 0)}/{summary.get('n_features', 9)}){flag}"
        )
    if report.kind == Kind.MODEL_PERFORMANCE:
        current = summary.get("current") or {}
        return (
            f"accuracy {_fmt(current.get('accuracy'))}, F1 {_fmt(current.get('f1'))} "
            f"on {current.get('rows', 0)} labelled"
        )
    totals = summary.get("totals") or {}
    return (
        f"{summary.get('rows', 0)} rows: {totals.get('missing', 0)} missing, "
        f"{totals.get('out_of_range', 0)} out of range, "
        f"{totals.get('unseen_categories', 0)} unseen, "
        f"{totals.get('implausible_day', 0)} days over 24 h"
    )


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


# --- The overview page -------------------------------------------------------------------------


def drift_series() -> list[dict]:
    """Drift share of every kept `ok` drift report, oldest first."""
    rows = MonitoringReport.objects.filter(kind=Kind.DATA_DRIFT, status=OK).order_by("window_end")
    return [
        {
            "at": r.window_end,
            "drift_share": r.summary.get("drift_share"),
            "dataset_drift": bool(r.summary.get("dataset_drift")),
            "threshold": r.summary.get("threshold"),
            "rows": r.current_rows,
        }
        for r in rows
    ]


def performance_series() -> list[dict]:
    """Production accuracy and F1 of every kept `ok` performance report, oldest first, with
    the CBPE estimate of each; a report skipped for want of labels adds its estimate alone."""
    rows = MonitoringReport.objects.filter(kind=Kind.MODEL_PERFORMANCE, status__in=[OK, SKIPPED])
    series = []
    for r in rows.order_by("window_end"):
        current = r.summary.get("current") or {}
        reference = r.summary.get("reference") or {}
        estimated = r.summary.get("estimated") or {}
        if r.status != OK and not estimated:
            continue
        series.append(
            {
                "at": r.window_end,
                "accuracy": current.get("accuracy"),
                "f1": current.get("f1"),
                "estimated_accuracy": estimated.get("accuracy"),
                "estimated_f1": estimated.get("f1"),
                "reference_accuracy": reference.get("accuracy"),
                "reference_f1": reference.get("f1"),
                "rows": r.current_rows,
                "version": r.summary.get("model_version"),
            }
        )
    return series


def latest_drift_report() -> MonitoringReport | None:
    """The newest successful data-drift report (the retrain decision reads its drift share)."""
    return MonitoringReport.objects.filter(kind=Kind.DATA_DRIFT, status=OK).first()


def latest_performance_report() -> MonitoringReport | None:
    """The newest `ok` model-performance report (the retrain's performance trigger reads it)."""
    return MonitoringReport.objects.filter(kind=Kind.MODEL_PERFORMANCE, status=OK).first()


def latest_reports() -> list[MonitoringReport]:
    """The newest report of each kind, whatever its status."""
    found = []
    for kind in Kind.values:
        report = MonitoringReport.objects.filter(kind=kind).select_related("model_version").first()
        if report is not None:
            found.append(report)
    return found


def daily_volumes(*, days: int = 30, today: date | None = None) -> list[dict]:
    """Predictions served and feedback received per day (local time), zeros included.

    Counted here with the ORM rather than through predictions.selectors.production_frame(),
    which would load every row of the period just to count them.
    """
    from predictions.models import Feedback, Prediction

    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))

    def per_day(model) -> dict[date, int]:
        rows = (
            model.objects.filter(created_at__gte=start)
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return {row["day"]: row["n"] for row in rows}

    predictions, feedback = per_day(Prediction), per_day(Feedback)
    return [
        {
            "day": first + timedelta(days=i),
            "predictions": predictions.get(first + timedelta(days=i), 0),
            "feedback": feedback.get(first + timedelta(days=i), 0),
        }
        for i in range(days)
    ]
