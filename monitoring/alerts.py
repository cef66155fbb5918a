"""Raising alerts: one row per open condition, delivered by the worker after commit.

Callers (the reports run, the retrain, Celery's failure signals, the hourly check) call
`after_reports`, `after_retrain`, `check`, or the signal handlers. None of them raises: an
alert problem is logged and never fails or slows the run that noticed the condition.

No alert storms: `monitoring.Alert` has a partial unique constraint on `dedup_key` among
unacknowledged rows. Raising tries the INSERT in a savepoint; when the database refuses it,
the open alert gets `repeats + 1` and `last_seen_at`, and nothing is sent again. Once staff
acknowledge it, the next occurrence is a new alert.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from . import alert_rules as rules
from . import delivery, task_names
from .models import Alert, MonitoringReport, MonitoringRun

logger = logging.getLogger(__name__)

# Failed deliveries of open alerts younger than this are retried by the hourly check.
REDELIVERY_WINDOW = timedelta(hours=24)
# The schedule's period is the longest gap between its run times over this horizon.
PERIOD_HORIZON = timedelta(days=8)


@dataclass(frozen=True)
class Raised:
    alert: Alert
    created: bool


def alert_raise(finding: rules.Finding) -> Raised:
    """Record the finding as a new alert, or as a repeat of the open one with its key.

    Delivery to the configured channels is queued once the caller's transaction commits.
    """
    now = timezone.now()
    for _ in range(3):  # the open alert may be acknowledged between the INSERT and the UPDATE
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    kind=finding.kind,
                    severity=finding.severity,
                    message=finding.message[:1000],
                    context=finding.context,
                    dedup_key=finding.key[:200],
                    delivery={c: delivery.pending() for c in delivery.configured_channels()},
                    last_seen_at=now,
                )
        except IntegrityError:
            same_key = Alert.objects.filter(dedup_key=finding.key[:200])
            if same_key.filter(acknowledged_at=None).update(
                repeats=F("repeats") + 1, last_seen_at=now
            ):
                alert = same_key.order_by("-created_at", "-pk").first()
                logger.info(
                    "alert_repeated",
                    extra={"alert_id": alert.pk, "kind": alert.kind, "repeats": alert.repeats},
                )
                return Raised(alert, created=False)
            continue
        channels = list(alert.delivery)
        transaction.on_commit(lambda pk=alert.pk, ch=channels: delivery.queue(pk, ch))
        logger.warning(
            "alert_raised",
            extra={"alert_id": alert.pk, "kind": alert.kind, "severity": alert.severity},
        )
        return Raised(alert, created=True)
    raise RuntimeError(f"alert {finding.key!r} neither inserted nor found open")


def _raise_quietly(finding: rules.Finding | None) -> Alert | None:
    if finding is None:
        return None
    try:
        return alert_raise(finding).alert
    except Exception:  # never let an alert problem break the caller
        logger.exception("alert_not_raised", extra={"kind": finding.kind})
        return None


def alert_acknowledge(alerts, user) -> int:
    """Acknowledge open alerts (a queryset); returns how many were still open."""
    return alerts.filter(acknowledged_at=None).update(
        acknowledged_by=user, acknowledged_at=timezone.now()
    )


# --- After a monitoring run --------------------------------------------------------------------


def after_reports(run: MonitoringRun) -> list[Alert]:
    """Drift, production accuracy/F1, a failed report and the warnings jump, for one run."""
    try:
        findings = _report_findings(run)
    except Exception:
        logger.exception("alert_rules_failed", extra={"monitoring_run": run.pk})
        return []
    return [a for a in map(_raise_quietly, findings) if a is not None]


def _report_findings(run: MonitoringRun) -> list[rules.Finding | None]:
    reports = {r.kind: r for r in run.reports.all()}
    findings: list[rules.Finding | None] = []
    if run.status == MonitoringRun.Status.FAILED:
        findings.append(rules.reports_failed(run_id=run.pk, error=run.error or "unknown error"))
    ok = MonitoringReport.Status.OK
    drift = reports.get(MonitoringReport.Kind.DATA_DRIFT)
    if drift is not None and drift.status == ok:
        findings.append(rules.drift(drift.summary, settings.DRIFT_THRESHOLD))
    performance = reports.get(MonitoringReport.Kind.MODEL_PERFORMANCE)
    if performance is not None and performance.status == ok:
        relative = settings.PERFORMANCE_TRIGGER == "relative"
        if relative:
            findings.append(
                rules.performance_relative(
                    performance.summary,
                    metric=settings.PERFORMANCE_METRIC,
                    tolerance=settings.PERFORMANCE_TOLERANCE,
                    confidence=settings.PERFORMANCE_CONFIDENCE,
                )
            )
        findings += rules.performance(
            performance.summary,
            accuracy_floor=None if relative else settings.ACCURACY_THRESHOLD,
            f1_floor=settings.F1_THRESHOLD,
        )
        findings.append(rules.group_recall_gap(performance.summary, settings.MAX_GROUP_RECALL_GAP))
    windows = [r for r in reports.values() if r.window_start and r.window_end]
    if windows:
        findings.append(warnings_jump(windows[0].window_start, windows[0].window_end))
    return findings


def warnings_jump(start: datetime, end: datetime) -> rules.Finding | None:
    """The jump rule on [start, end) against the window of the same length just before it."""
    current = window_count(start, end)
    previous = window_count(start - (end - start), start)
    return rules.warnings_jump(current, previous)


def window_count(start: datetime, end: datetime) -> rules.WindowCount:
    from predictions.models import Prediction

    counts = Prediction.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        total=Count("pk"), warned=Count("pk", filter=~Q(warnings=[]))
    )
    return rules.WindowCount(start, end, counts["total"], counts["warned"])


# --- After a retrain ---------------------------------------------------------------------------


def after_retrain(run) -> Alert | None:
    """The decision's log line, and an alert when the retrain promoted, rejected or failed."""
    try:
        new = run.new_version
        champion = run.champion
        logger.info(
            "model_decision",
            extra={
                "run_id": run.pk,
                "trigger": run.trigger,
                "decision": run.decision,
                "new_version": new.version if new else None,
                "champion_version": champion.version if champion else None,
                "metric": run.selection_metric or None,
                "challenger_score": run.challenger_score,
                "champion_score": run.champion_score,
                "duration_s": (run.step_seconds or {}).get("total"),
            },
        )
        finding = rules.retrain(
            run_id=run.pk,
            decision=run.decision,
            reason=run.reason or "",
            new_version=new.version if new else None,
            algorithm=new.algorithm if new else None,
            champion_version=champion.version if champion else None,
            details={
                "trigger": run.trigger,
                "metric": run.selection_metric or None,
                "challenger_score": run.challenger_score,
                "champion_score": run.champion_score,
                "rows_reference": run.rows_reference,
                "rows_production": run.rows_production,
                "error": (run.error or "")[-2000:],
            },
        )
    except Exception:
        logger.exception("alert_rules_failed", extra={"retrain_run": getattr(run, "pk", None)})
        return None
    return _raise_quietly(finding)


# --- Celery signals (connected by alert_wiring) ------------------------------------------------


def after_labels(
    *,
    pending: int,
    over_share: dict,
    positive_share,
    mean_probability,
    share: float,
    gap: float,
    minimum: int,
) -> list[Alert]:
    """Told by the retrain what the pending labels look like; raises the anomalies."""
    findings = [
        rules.labels_client_share(over_share, share),
        rules.labels_calibration(
            pending=pending,
            positive_share=positive_share,
            mean_probability=mean_probability,
            gap=gap,
            minimum=minimum,
        ),
    ]
    return [alert for alert in map(_raise_quietly, findings) if alert is not None]


def on_task_failure(sender=None, task_id=None, exception=None, **kwargs) -> None:
    """Every failed task, time limits included (Celery 5.7 sends task_failure for those too).

    Runs in the worker, right after the failure: it must never raise, or it would hide the
    task's own error in the worker's log.
    """
    try:
        name = getattr(sender, "name", None) or str(sender)
        # Alerts about the delivery task itself would go to the channel that just failed; its
        # failures are recorded on the alert it was delivering instead.
        if name == task_names.DELIVER_ALERT:
            return
        if not connection.in_atomic_block:  # (an eager task inside a caller's transaction)
            close_old_connections()  # the task may have left a broken connection behind
        _raise_quietly(rules.task_failed(name, task_id, exception))
    except Exception:
        logger.exception("alert_task_failure_not_raised", extra={"failed_task_id": task_id})


def on_task_revoked(sender=None, request=None, terminated=False, signum=None, expired=False, **kw):
    try:
        name = getattr(sender, "name", None) or str(sender)
        task_id = getattr(request, "id", None)
        finding = rules.task_revoked(
            name, task_id, terminated=terminated, expired=expired, signum=signum
        )
        _raise_quietly(finding)
    except Exception:
        logger.exception("alert_task_revoked_not_raised")


def on_task_internal_error(sender=None, task_id=None, exception=None, **kwargs) -> None:
    on_task_failure(sender=sender, task_id=task_id, exception=exception)


# --- The periodic check ------------------------------------------------------------------------


def check(now: datetime | None = None) -> dict:
    """The hourly check: stale reports, then failed deliveries of recent open alerts."""
    now = now or timezone.now()
    stale = None
    try:
        stale = _raise_quietly(reports_stale(now))
    except Exception:
        logger.exception("alert_staleness_check_failed")
    requeued = delivery.requeue_failed(since=now - REDELIVERY_WINDOW)
    return {"stale_alert": stale.pk if stale else None, "requeued": requeued}


def reports_stale(now: datetime) -> rules.Finding | None:
    """No run of the reports succeeded for longer than twice their schedule's period.

    A run succeeded when it finished ok or skipped AND recorded its reports: a quiet window
    (no production data) is a working pipeline; a run skipped because another was running,
    or one that failed, is not. The clock starts at the first activation of a model when no
    run ever succeeded; without any model there is nothing to monitor yet.
    """
    from training.models import ActivationEvent

    period = schedule_period(task_names.REPORTS_ENTRY, now)
    if period is None:
        return None
    succeeded = MonitoringRun.objects.filter(
        status__in=[MonitoringRun.Status.OK, MonitoringRun.Status.SKIPPED],
        reports__isnull=False,
        finished_at__isnull=False,
    )
    last_success = succeeded.aggregate(at=Max("finished_at"))["at"]
    since = ActivationEvent.objects.aggregate(at=Min("created_at"))["at"]
    if last_success is None and since is None:
        return None
    return rules.reports_stale(last_success=last_success, since=since, period=period, now=now)


def schedule_period(name: str, now: datetime) -> timedelta | None:
    """The longest gap between two consecutive run times of a periodic task over 8 days.

    Read from the django-celery-beat row when beat wrote one, so a crontab staff edited in the
    admin counts while beat runs it (until beat restarts); from CELERY_BEAT_SCHEDULE before
    beat ever started. The longest gap, so a weekdays-only schedule does not alert every
    weekend.
    """
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.select_related("crontab", "interval").filter(name=name).first()
    if task is None:
        entry = settings.CELERY_BEAT_SCHEDULE.get(name)
        if entry is None:
            return None
        schedule = entry["schedule"]
    elif task.interval is not None:
        return task.interval.schedule.run_every
    elif task.crontab is None:
        return None
    else:
        schedule = task.crontab.schedule
    times = [now]
    while len(times) < 2000:
        last, delta, _ = schedule.remaining_delta(times[-1])
        times.append(last + delta)
        if times[-1] - now > PERIOD_HORIZON and len(times) >= 4:
            break
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    return max(gaps) if gaps else None
