"""The alert conditions: small functions from measured values to a Finding, or None.

They take plain values (a report's summary, a run's fields, counts, times) and read no
settings and no database, so each threshold is tested on its own. `monitoring.alerts`
gathers the values, calls these and raises the alerts. A Finding's `dedup_key` names the
condition: while an alert with that key is unacknowledged, the same condition only counts
as a repeat on it (see alerts.alert_raise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import Alert

INFO, WARNING, CRITICAL = Alert.Severity.INFO, Alert.Severity.WARNING, Alert.Severity.CRITICAL

DRIFT = "drift"
ACCURACY_LOW = "accuracy_low"
PERFORMANCE_LOW = "performance_low"
F1_LOW = "f1_low"
TASK_FAILED = "task_failed"
TASK_REVOKED = "task_revoked"
RETRAIN_PROMOTED = "retrain_promoted"
RETRAIN_REJECTED = "retrain_rejected"
RETRAIN_FAILED = "retrain_failed"
REPORTS_FAILED = "reports_failed"
REPORTS_STALE = "reports_stale"
WARNINGS_JUMP = "warnings_jump"
LABELS_CLIENT_SHARE = "labels_client_share"
LABELS_CALIBRATION = "labels_calibration"
GROUP_RECALL_GAP = "group_recall_gap"

# The out-of-training-range jump: the share of predictions with warnings in the latest window
# exceeds max(JUMP_FACTOR x the previous window's share, previous + JUMP_MIN_INCREASE), and
# both windows hold at least JUMP_MIN_PREDICTIONS predictions (a share of 3 rows means little).
JUMP_FACTOR = 2.0
JUMP_MIN_INCREASE = 0.10
JUMP_MIN_PREDICTIONS = 50

_ERROR_CHARS = 300


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    message: str
    dedup_key: str = ""
    context: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.dedup_key or self.kind


def drift(summary: dict, threshold: float) -> Finding | None:
    """A data-drift report whose share of drifted features exceeds DRIFT_THRESHOLD."""
    share = summary.get("drift_share")
    if share is None or share <= threshold:
        return None
    drifted = list(summary.get("drifted_features") or [])
    return Finding(
        DRIFT,
        WARNING,
        f"Data drift: {share:.0%} of the features drifted (threshold {threshold:.0%}): "
        f"{', '.join(drifted) or 'none named'}.",
        context={"drift_share": share, "threshold": threshold, "drifted_features": drifted},
    )


def performance_relative(
    summary: dict, *, metric: str, tolerance: float, confidence: float
) -> Finding | None:
    """Production `metric` significantly below the model's own held-out figure minus tolerance.

    The same test as the performance trigger (monitoring.significance): the upper confidence
    bound of the production figure lies below the bar, so a small sample never alerts alone.
    """
    from .significance import performance_drop

    reference = (summary.get("reference") or {}).get(metric)
    drop = performance_drop(
        summary.get("current") or {},
        reference,
        metric=metric,
        tolerance=tolerance,
        confidence=confidence,
    )
    if not drop["significant"]:
        return None
    version = summary.get("model_version")
    return Finding(
        PERFORMANCE_LOW,
        CRITICAL,
        f"Production {metric} of model v{version} is {drop['value']:.3f} on {drop['rows']} "
        f"labelled predictions, significantly below its own test figure {reference:.3f} minus "
        f"{tolerance:g} (upper {confidence:.0%} bound {drop['upper']:.3f} < {drop['bar']:.3f}).",
        context={**drop, "model_version": version},
    )


def performance(summary: dict, *, accuracy_floor: float | None, f1_floor: float) -> list[Finding]:
    """Production accuracy below ACCURACY_THRESHOLD, F1 (positive class) below F1_THRESHOLD.

    Read from a model-performance report's summary["current"]; a metric that could not be
    computed (None) raises nothing. F1_THRESHOLD 0 never fires: F1 cannot be below 0; an
    accuracy floor of None (the relative rule is in use) is not checked.
    """
    current = summary.get("current") or {}
    rows = current.get("rows")
    version = summary.get("model_version")
    found = []
    checks = ((ACCURACY_LOW, "accuracy", accuracy_floor), (F1_LOW, "f1", f1_floor))
    for kind, metric, floor in checks:
        value = current.get(metric)
        if floor is None or value is None or value >= floor:
            continue
        name = "accuracy" if metric == "accuracy" else "F1 (positive class)"
        found.append(
            Finding(
                kind,
                CRITICAL,
                f"Production {name} of model v{version} is {value:.3f}, below {floor:.3f}, "
                f"on {rows} labelled predictions.",
                context={metric: value, "threshold": floor, "rows": rows, "model_version": version},
            )
        )
    return found


def group_recall_gap(summary: dict, max_gap: float) -> Finding | None:
    """The recall gap between the groups of Gender or Department, on the labelled production
    rows of a model-performance report, above MAX_GROUP_RECALL_GAP."""
    worst = (summary.get("groups") or {}).get("worst_recall_gap")
    if not worst or worst["gap"] <= max_gap:
        return None
    feature, gap = worst["feature"], worst["gap"]
    groups = summary["groups"]["features"][feature]["groups"]
    recalls = ", ".join(
        f"{g['group']} {g['recall']['value']:.2f} ({g['positives']} depressed)"
        for g in groups
        if g["recall"]["value"] is not None
    )
    version = summary.get("model_version")
    return Finding(
        GROUP_RECALL_GAP,
        WARNING,
        f"Model v{version} finds depressed students unequally across {feature}: recall gap "
        f"{gap:.2f} above {max_gap:.2f} (MAX_GROUP_RECALL_GAP). Recall by group: {recalls}.",
        dedup_key=f"{GROUP_RECALL_GAP}:{feature}",
        context={"feature": feature, "gap": gap, "threshold": max_gap, "model_version": version},
    )


def task_failed(task: str, task_id: str | None, exception: BaseException | None) -> Finding:
    """Any task that failed or hit its time limit (Celery's task_failure signal)."""
    kind_of_error = type(exception).__name__ if exception is not None else "unknown error"
    detail = str(exception or "")[:_ERROR_CHARS]
    return Finding(
        TASK_FAILED,
        CRITICAL,
        f"Task {task} failed: {kind_of_error}{f': {detail}' if detail else ''}",
        dedup_key=f"{TASK_FAILED}:{task}",
        context={"task": task, "task_id": task_id, "exception": kind_of_error, "error": detail},
    )


def task_revoked(task: str, task_id: str | None, *, terminated: bool, expired: bool, signum):
    """A task killed while running or expired before it ran; a plain revoke is staff's choice."""
    if not (terminated or expired):
        return None
    how = "expired before it ran" if expired else f"was terminated (signal {signum})"
    return Finding(
        TASK_REVOKED,
        WARNING,
        f"Task {task} {how}.",
        dedup_key=f"{TASK_REVOKED}:{task}",
        context={"task": task, "task_id": task_id, "terminated": terminated, "expired": expired},
    )


_RETRAIN = {
    "promoted": (RETRAIN_PROMOTED, INFO, "promoted v{new} ({algorithm}) into service"),
    "rejected": (RETRAIN_REJECTED, WARNING, "rejected its challenger v{new}; v{champion} stays"),
    "failed": (RETRAIN_FAILED, CRITICAL, "failed"),
}


def retrain(
    *,
    run_id: int,
    decision: str,
    reason: str,
    new_version: int | None,
    algorithm: str | None,
    champion_version: int | None,
    details: dict | None = None,
) -> Finding | None:
    """A retrain that promoted, rejected or failed (skips are recorded, not alerted).

    `details` (scores, rows, error) go into the context, which the e-mail and the webhook carry:
    this alert is the only message about the decision.
    """
    if decision not in _RETRAIN:
        return None
    kind, severity, what = _RETRAIN[decision]
    text = what.format(new=new_version, algorithm=algorithm, champion=champion_version)
    return Finding(
        kind,
        severity,
        f"Retrain #{run_id} {text}: {reason}"[:1000],
        context={
            "run_id": run_id,
            "decision": decision,
            "new_version": new_version,
            "champion_version": champion_version,
            **(details or {}),
        },
    )


def reports_failed(*, run_id: int, error: str) -> Finding:
    """A monitoring run that recorded a failed report (its task itself succeeded)."""
    return Finding(
        REPORTS_FAILED,
        CRITICAL,
        f"Monitoring run #{run_id} failed: {error[:_ERROR_CHARS]}",
        context={"run_id": run_id, "error": error[:_ERROR_CHARS]},
    )


def reports_stale(
    *, last_success: datetime | None, since: datetime, period: timedelta, now: datetime
) -> Finding | None:
    """No monitoring run succeeded for longer than twice the reports' schedule period.

    `since` is where the clock starts when no run ever succeeded (the first activation).
    """
    start = last_success or since
    silent = now - start
    if silent <= 2 * period:
        return None
    hours = silent.total_seconds() / 3600
    when = f"since {start:%Y-%m-%d %H:%M %Z}" if last_success else "ever"
    return Finding(
        REPORTS_STALE,
        CRITICAL,
        f"No monitoring report has succeeded {when} ({hours:.1f} h, more than twice the "
        f"schedule's {period.total_seconds() / 3600:g} h): is the worker or beat down?",
        context={
            "last_success": last_success.isoformat() if last_success else None,
            "silent_hours": round(hours, 2),
            "period_hours": period.total_seconds() / 3600,
        },
    )


@dataclass(frozen=True)
class WindowCount:
    start: datetime
    end: datetime
    predictions: int
    with_warnings: int

    @property
    def share(self) -> float:
        return self.with_warnings / self.predictions if self.predictions else 0.0


def warnings_jump(current: WindowCount, previous: WindowCount) -> Finding | None:
    """The share of predictions with out-of-training-range warnings jumped (see JUMP_*)."""
    if min(current.predictions, previous.predictions) < JUMP_MIN_PREDICTIONS:
        return None
    bar = max(JUMP_FACTOR * previous.share, previous.share + JUMP_MIN_INCREASE)
    if current.share <= bar:
        return None
    return Finding(
        WARNINGS_JUMP,
        WARNING,
        f"{current.share:.0%} of the latest {current.predictions} predictions had values "
        f"outside the training range, up from {previous.share:.0%} in the window before "
        f"(alert above {bar:.0%}).",
        context={
            "share": round(current.share, 4),
            "previous_share": round(previous.share, 4),
            "bar": round(bar, 4),
            "predictions": current.predictions,
            "previous_predictions": previous.predictions,
            "window": [current.start.isoformat(), current.end.isoformat()],
        },
    )


def labels_client_share(over_share: dict[str, tuple[int, int]], share: float) -> Finding | None:
    """Client keys that sent more labels than their share of a retrain's rows (their extra
    labels are left out of retrains): someone may be feeding the model."""
    if not over_share:
        return None
    worst = sorted(over_share.items(), key=lambda item: -item[1][0])
    shown = ", ".join(f"{key[:8]}… {count} (cap {cap})" for key, (count, cap) in worst[:5])
    return Finding(
        kind=LABELS_CLIENT_SHARE,
        severity=WARNING,
        message=(
            f"{len(over_share)} client key(s) sent more pending labels than their share "
            f"({share:.0%} of a retrain's rows): {shown}. Their extra labels are not used."
        ),
        context={"clients": {key: count for key, (count, _cap) in worst[:20]}, "share": share},
    )


def labels_calibration(
    *, pending: int, positive_share, mean_probability, gap: float, minimum: int
) -> Finding | None:
    """The pending labels disagree with a calibrated model: their positive share is more than
    `gap` away from the mean predicted probability of the same predictions."""
    if pending < minimum or positive_share is None or mean_probability is None:
        return None
    distance = abs(positive_share - mean_probability)
    if distance <= gap:
        return None
    return Finding(
        kind=LABELS_CALIBRATION,
        severity=WARNING,
        message=(
            f"The {pending} pending labels are {positive_share:.0%} positive, but the model "
            f"predicted {mean_probability:.0%} on average for the same students (gap "
            f"{distance:.2f} > {gap:g}): check where the labels come from before a retrain."
        ),
        context={
            "pending": pending,
            "positive_share": positive_share,
            "mean_probability": mean_probability,
        },
    )
