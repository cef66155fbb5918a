"""The series of GET /metrics, each read from the database with a few aggregate queries.

The predictions and feedback series read the tallies the database triggers keep
(PredictionTally, FeedbackTally), never the big tables themselves, so a scrape costs the same
at 10,000 or 10,000,000 predictions.

Counters (`*_total`) count rows that are never deleted (predictions, feedback, runs, alerts),
so they only go up; Celery task results expire (django-celery-results), so they are gauges.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q, Sum

from .prometheus import Family

# Upper bounds of the prediction latency histogram, in milliseconds (exported in seconds).
LATENCY_BUCKETS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
_PRODUCTION_METRICS = ("precision", "recall", "roc_auc")


def collect() -> list[Family]:
    tallies = _prediction_tallies()
    return [
        *predictions(tallies),
        *latency(tallies),
        *feedback(tallies),
        *active_model(),
        *drift(),
        *performance(),
        *thresholds(),
        *task_results(),
        *runs(),
        *alerts(),
    ]


def _timestamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def _duration(end: str, start: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def _prediction_tallies() -> list[dict]:
    """PredictionTally summed over the slots, per (channel, label, model version): a few dozen
    rows kept by triggers, whatever the size of the predictions table."""
    from predictions.models import PredictionTally
    from training.models import ModelVersion

    sums = {"n": Sum("n"), "latency_n": Sum("latency_n"), "latency_sum": Sum("latency_sum")}
    sums.update({f"le{i}": Sum(f"le{i}") for i in range(len(LATENCY_BUCKETS_MS))})
    rows = list(
        PredictionTally.objects.values("channel", "label", "model_version_id")
        .annotate(**sums)
        .filter(n__gt=0)
        .order_by("channel", "label", "model_version_id")
    )
    versions = dict(
        ModelVersion.objects.filter(pk__in={r["model_version_id"] for r in rows}).values_list(
            "pk", "version"
        )
    )
    for row in rows:
        row["version"] = versions.get(row["model_version_id"])
    return rows


def predictions(tallies: list[dict] | None = None) -> list[Family]:
    family = Family(
        "mindpulse_predictions_total",
        "counter",
        "Predictions served, by channel, predicted outcome and model version.",
    )
    for row in _prediction_tallies() if tallies is None else tallies:
        family.add(
            row["n"],
            channel=row["channel"],
            outcome="at_risk" if row["label"] else "not_at_risk",
            model_version=row["version"],
        )
    return [family]


def latency(tallies: list[dict] | None = None) -> list[Family]:
    """Cumulative bucket counts per channel, from the tallies."""
    family = Family(
        "mindpulse_prediction_latency_seconds",
        "histogram",
        "Time to validate and score one prediction (batch: the batch's time per row).",
    )
    keys = ["latency_n", "latency_sum", *(f"le{i}" for i in range(len(LATENCY_BUCKETS_MS)))]
    channels: dict[str, dict] = {}
    for row in _prediction_tallies() if tallies is None else tallies:
        into = channels.setdefault(row["channel"], dict.fromkeys(keys, 0))
        for key in keys:
            into[key] += row[key] or 0
    for channel, row in sorted(channels.items()):
        if not row["latency_n"]:
            continue
        for i, bound in enumerate(LATENCY_BUCKETS_MS):
            family.add(row[f"le{i}"], "_bucket", channel=channel, le=_le(bound))
        family.add(row["latency_n"], "_bucket", channel=channel, le="+Inf")
        family.add(row["latency_sum"] / 1000, "_sum", channel=channel)
        family.add(row["latency_n"], "_count", channel=channel)
    return [family]


def _le(bound_ms: float) -> str:
    return repr(bound_ms / 1000)


def feedback(tallies: list[dict] | None = None) -> list[Family]:
    from predictions.models import FeedbackTally

    counts = FeedbackTally.objects.aggregate(
        total=Sum("total"), pending=Sum("pending"), positive=Sum("positive")
    )
    all_feedback, positive = counts["total"] or 0, counts["positive"] or 0
    total = Family("mindpulse_feedback_total", "counter", "Feedback received, by actual outcome.")
    total.add(all_feedback - positive, actual=0)
    total.add(positive, actual=1)
    tallies = _prediction_tallies() if tallies is None else tallies
    predictions_count = sum(row["n"] for row in tallies)
    share = Family(
        "mindpulse_feedback_share",
        "gauge",
        "Share of the predictions that received a feedback (0 without predictions).",
    ).add(all_feedback / predictions_count if predictions_count else 0.0)
    unconsumed = Family(
        "mindpulse_feedback_unconsumed",
        "gauge",
        "Feedback no retrain has consumed yet (RETRAIN_THRESHOLD triggers one).",
    ).add(counts["pending"] or 0)
    return [total, share, unconsumed]


def active_model() -> list[Family]:
    from training.models import ModelVersion

    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    info = Family("mindpulse_active_model_info", "gauge", "The model version in service (value 1).")
    number = Family(
        "mindpulse_active_model_version", "gauge", "Version number of the model in service."
    )
    metrics = Family(
        "mindpulse_active_model_test_metric",
        "gauge",
        "Test-split metrics of the model in service, by metric.",
    )
    if version is not None:
        info.add(
            1,
            version=version.version,
            algorithm=version.algorithm,
            selection_metric=version.selection_metric,
        )
        number.add(version.version)
        for name, value in sorted((version.metrics or {}).items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics.add(value, metric=name)
    return [info, number, metrics]


def drift() -> list[Family]:
    from monitoring.models import MonitoringReport

    report = MonitoringReport.objects.filter(
        kind=MonitoringReport.Kind.DATA_DRIFT, status=MonitoringReport.Status.OK
    ).first()
    share = Family(
        "mindpulse_drift_share", "gauge", "Share of drifted features in the latest drift report."
    )
    dataset = Family(
        "mindpulse_drift_dataset_drifted",
        "gauge",
        "1 when the latest drift report's share exceeds its threshold.",
    )
    flags = Family(
        "mindpulse_feature_drifted", "gauge", "1 when the feature drifted in the latest report."
    )
    scores = Family(
        "mindpulse_feature_drift_score",
        "gauge",
        "The feature's drift score (p-value or distance, see method) in the latest report.",
    )
    at = Family(
        "mindpulse_drift_report_timestamp_seconds",
        "gauge",
        "End of the latest drift report's window (Unix time).",
    )
    if report is not None:
        summary = report.summary or {}
        share.add(summary.get("drift_share"))
        dataset.add(bool(summary.get("dataset_drift")))
        for feature, result in sorted((summary.get("features") or {}).items()):
            flags.add(bool(result.get("drifted")), feature=feature)
            scores.add(result.get("score"), feature=feature, method=result.get("method") or "")
        at.add(_timestamp(report.window_end or report.created_at))
    return [share, dataset, flags, scores, at]


def performance() -> list[Family]:
    from monitoring.models import MonitoringReport

    report = MonitoringReport.objects.filter(
        kind=MonitoringReport.Kind.MODEL_PERFORMANCE, status=MonitoringReport.Status.OK
    ).first()
    accuracy = Family(
        "mindpulse_production_accuracy",
        "gauge",
        "Accuracy on labelled production predictions (latest performance report).",
    )
    f1 = Family(
        "mindpulse_production_f1",
        "gauge",
        "F1 of the positive class on labelled production predictions (latest report).",
    )
    others = Family(
        "mindpulse_production_metric",
        "gauge",
        "Other metrics of the latest performance report, by metric.",
    )
    rows = Family(
        "mindpulse_production_labelled_rows", "gauge", "Labelled rows of the latest report."
    )
    at = Family(
        "mindpulse_performance_report_timestamp_seconds",
        "gauge",
        "End of the latest performance report's window (Unix time).",
    )
    if report is not None:
        current = (report.summary or {}).get("current") or {}
        accuracy.add(current.get("accuracy"))
        f1.add(current.get("f1"))
        for name in _PRODUCTION_METRICS:
            others.add(current.get(name), metric=name)
        rows.add(current.get("rows"))
        at.add(_timestamp(report.window_end or report.created_at))
    return [accuracy, f1, others, rows, at]


def thresholds() -> list[Family]:
    from django.conf import settings

    family = Family(
        "mindpulse_alert_threshold", "gauge", "Thresholds the alerts compare with, by name."
    )
    family.add(settings.DRIFT_THRESHOLD, name="drift_share")
    family.add(settings.ACCURACY_THRESHOLD, name="accuracy")
    family.add(settings.F1_THRESHOLD, name="f1")
    return [family]


def task_results() -> list[Family]:
    from django_celery_results.models import TaskResult

    results = Family(
        "mindpulse_task_results",
        "gauge",
        "Celery task results kept by django-celery-results, by task and state.",
    )
    for row in (
        TaskResult.objects.values("task_name", "status")
        .annotate(n=Count("pk"))
        .order_by("task_name", "status")
    ):
        results.add(row["n"], task=row["task_name"] or "unknown", state=row["status"])
    durations = Family(
        "mindpulse_task_duration_seconds",
        "summary",
        "Run time (start to end) of the kept task results that finished, by task and state.",
    )
    longest = Family(
        "mindpulse_task_max_duration_seconds",
        "gauge",
        "Longest run time among the kept finished task results, by task.",
    )
    finished = TaskResult.objects.filter(
        status__in=["SUCCESS", "FAILURE"], date_started__isnull=False
    )
    for row in (
        finished.values("task_name", "status")
        .annotate(
            n=Count("pk"),
            total=Sum(_duration("date_done", "date_started")),
            longest=Max(_duration("date_done", "date_started")),
        )
        .order_by("task_name", "status")
    ):
        labels = {"task": row["task_name"] or "unknown", "state": row["status"]}
        durations.add(_seconds(row["total"]), "_sum", **labels)
        durations.add(row["n"], "_count", **labels)
        longest.add(_seconds(row["longest"]), **labels)
    return [results, durations, longest]


def runs() -> list[Family]:
    from monitoring.models import MonitoringRun
    from training.models import RetrainRun

    families = []
    for model, prefix, label, what in (
        (MonitoringRun, "mindpulse_monitoring_run", "status", "Monitoring runs"),
        (RetrainRun, "mindpulse_retrain_run", "decision", "Retrain evaluations"),
    ):
        total = Family(f"{prefix}s_total", "counter", f"{what}, by {label}.")
        duration = Family(f"{prefix}_duration_seconds", "summary", f"{what}' run time, by {label}.")
        last = Family(
            f"{prefix}_last_timestamp_seconds", "gauge", f"Start of the latest of the {what}."
        )
        for row in (
            model.objects.values(label)
            .annotate(
                n=Count("pk"),
                finished=Count("pk", filter=Q(finished_at__isnull=False)),
                total=Sum(_duration("finished_at", "started_at")),
                last=Max("started_at"),
            )
            .order_by(label)
        ):
            total.add(row["n"], **{label: row[label]})
            duration.add(_seconds(row["total"]) or 0.0, "_sum", **{label: row[label]})
            duration.add(row["finished"], "_count", **{label: row[label]})
            last.add(_timestamp(row["last"]), **{label: row[label]})
        families += [total, duration, last]
    success = MonitoringRun.objects.filter(
        status__in=[MonitoringRun.Status.OK, MonitoringRun.Status.SKIPPED],
        reports__isnull=False,
    ).aggregate(at=Max("finished_at"))["at"]
    families.append(
        Family(
            "mindpulse_monitoring_last_success_timestamp_seconds",
            "gauge",
            "End of the latest monitoring run that recorded its reports without a failure.",
        ).add(_timestamp(success))
    )
    return families


def alerts() -> list[Family]:
    from monitoring.models import Alert

    open_ = Family("mindpulse_alerts_open", "gauge", "Unacknowledged alerts, by kind and severity.")
    total = Family("mindpulse_alerts_total", "counter", "Alerts raised, by kind and severity.")
    for row in (
        Alert.objects.values("kind", "severity")
        .annotate(n=Count("pk"), open=Count("pk", filter=Q(acknowledged_at__isnull=True)))
        .order_by("kind", "severity")
    ):
        total.add(row["n"], kind=row["kind"], severity=row["severity"])
        open_.add(row["open"], kind=row["kind"], severity=row["severity"])
    deliveries = Family(
        "mindpulse_alert_deliveries",
        "gauge",
        "Alert deliveries by channel and status (pending, retrying, delivered, failed...).",
    )
    counts: dict[tuple[str, str], int] = {}
    for delivery in Alert.objects.exclude(delivery={}).values_list("delivery", flat=True):
        for channel, entry in (delivery or {}).items():
            key = (channel, (entry or {}).get("status") or "unknown")
            counts[key] = counts.get(key, 0) + 1
    for (channel, status), n in sorted(counts.items()):
        deliveries.add(n, channel=channel, status=status)
    return [open_, total, deliveries]
