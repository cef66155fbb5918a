"""The retrain decision: each trigger's measured value against its threshold.

`evaluate()` returns plain JSON, stored as RetrainRun.triggers, so that every run answers
"why did (or didn't) it retrain?" with the numbers it saw:

    {"data": {"value": 1234, "threshold": 1000, "rule": ">=", "fired": true, ...},
     "drift": {...}, "performance": {...}, "manual": {...}}

A monitoring report counts only when it was made while the model in service was already
active: a report about the previous model (e.g. the drift or the poor accuracy that caused
the last promotion) would otherwise fire the same retrain again the next day.
"""

from __future__ import annotations

from django.conf import settings

from monitoring import selectors as monitoring_selectors
from predictions import selectors as predictions_selectors

from . import selectors

ORDER = ("data", "drift", "performance", "manual")


# Triggers on a condition that persists (a drift, a performance drop) fire when the condition
# starts, not on every check while it lasts: otherwise each daily check retrains on the same
# evidence, and a rejected challenger is trained again and again on unchanged data.
EDGE_TRIGGERED = ("drift", "performance")


def evaluate(*, force: bool) -> dict[str, dict]:
    active = selectors.active_model_version()
    since = active.activated_at if active is not None else None
    evaluated = {
        "data": _data(),
        "drift": _drift(since),
        "performance": _performance(since, active),
        "manual": {"value": bool(force), "threshold": True, "rule": "==", "fired": bool(force)},
    }
    _only_newly_fired(evaluated)
    return evaluated


def _only_newly_fired(evaluated: dict[str, dict]) -> None:
    """A drift or performance condition that already held at the last decision does not fire.

    "Held" is recorded as `active` on every run, so a no-op carries it to the next check; a
    condition seen on a report that predates the model in service counts as held too, so that
    the first report of a promoted model does not fire the same retrain again.
    """
    last = selectors.last_decision()
    for name in EDGE_TRIGGERED:
        trigger = evaluated[name]
        if not trigger.get("fired"):
            continue
        before = ((last.triggers or {}) if last is not None else {}).get(name) or {}
        if before.get("active", before.get("fired")):
            trigger["fired"] = False
            trigger["note"] = (
                f"held since retrain #{last.pk} ({last.decision}): not newly fired"
                + (f"; {trigger['note']}" if trigger.get("note") else "")
            )


def fired(triggers: dict[str, dict]) -> list[str]:
    return [name for name in ORDER if triggers.get(name, {}).get("fired")]


def describe(name: str, trigger: dict) -> str:
    """One line, e.g. "drift 0.444 > 0.3: fired (data_drift report #4)"."""
    value, threshold = trigger.get("value"), trigger.get("threshold")
    shown = "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
    line = f"{name} {shown} {trigger.get('rule', '')} {threshold}: "
    line += "fired" if trigger.get("fired") else "not fired"
    if trigger.get("source"):
        line += f" ({trigger['source']})"
    if trigger.get("note"):
        line += f" — {trigger['note']}"
    return line


def _data() -> dict:
    # Only the labels a retrain would use: trusted sources, no client above its share.
    labels = predictions_selectors.usable_labels(reference_rows=selectors.reference_count())
    count = labels.count
    threshold = settings.RETRAIN_THRESHOLD
    return {
        "value": count,
        "threshold": threshold,
        "rule": ">=",
        "fired": count >= threshold,
        "source": "usable labelled rows not consumed by a retrain (trusted sources)",
    }


def _fresh(report, since) -> tuple[bool, str]:
    if report is None:
        return False, ""
    if since is not None and report.created_at < since:
        return False, (
            f"{report.kind} report #{report.pk} predates the model in service "
            f"(activated {since:%Y-%m-%d %H:%M:%S}); it is ignored"
        )
    return True, ""


def _drift(since) -> dict:
    threshold = settings.DRIFT_THRESHOLD
    result = {"value": None, "threshold": threshold, "rule": ">", "fired": False, "active": False}
    report = monitoring_selectors.latest_drift_report()
    fresh, note = _fresh(report, since)
    if report is None:
        result["note"] = "no data_drift report yet"
        return result
    share = (report.summary or {}).get("drift_share")
    result.update(source=f"data_drift report #{report.pk}", report_id=report.pk)
    if share is None:
        result["note"] = "the report has no drift share"
        return result
    active = float(share) > threshold
    result.update(value=float(share), active=active, fired=active and fresh)
    if not fresh:
        result["note"] = note
    return result


def _performance(since, version) -> dict:
    if settings.PERFORMANCE_TRIGGER == "relative":
        return _performance_relative(since, version)
    return _performance_absolute(since)


def _performance_relative(since, version) -> dict:
    """Production PERFORMANCE_METRIC significantly below the model's own held-out figure."""
    from monitoring.significance import performance_drop

    metric, tolerance = settings.PERFORMANCE_METRIC, settings.PERFORMANCE_TOLERANCE
    result = {
        "value": None,
        "threshold": None,
        "rule": "upper bound <",
        "metric": metric,
        "fired": False,
        "active": False,
    }
    report = monitoring_selectors.latest_performance_report()
    if report is None:
        result["note"] = "no model_performance report yet"
        return result
    fresh, note = _fresh(report, since)
    summary = report.summary or {}
    reference = (summary.get("reference") or {}).get(metric)
    if reference is None and version is not None:
        reference = (version.metrics or {}).get(metric)
    drop = performance_drop(
        summary.get("current") or {},
        reference,
        metric=metric,
        tolerance=tolerance,
        confidence=settings.PERFORMANCE_CONFIDENCE,
    )
    result.update(
        value=drop["value"],
        threshold=drop["bar"],
        upper=drop["upper"],
        reference=drop["reference"],
        rows=drop["rows"],
        active=drop["significant"],
        fired=drop["significant"] and fresh,
        source=f"model_performance report #{report.pk}",
        report_id=report.pk,
    )
    notes = [n for n in (drop["note"], "" if fresh else note) if n]
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _performance_absolute(since) -> dict:
    threshold = settings.ACCURACY_THRESHOLD
    result = {"value": None, "threshold": threshold, "rule": "<", "fired": False}
    report = monitoring_selectors.latest_performance_report()
    fresh, note = _fresh(report, since)
    accuracy = ((report.summary or {}).get("current") or {}).get("accuracy") if fresh else None
    if accuracy is not None:
        result.update(
            value=float(accuracy),
            fired=float(accuracy) < threshold,
            active=float(accuracy) < threshold,
            source=f"model_performance report #{report.pk}",
            report_id=report.pk,
        )
        return result
    # No usable report: measure the served labels against the feedback not yet consumed.
    rows, right = selectors.unconsumed_accuracy()
    minimum = settings.MIN_LABELLED_ROWS
    result["rows"] = rows
    notes = []
    if report is None:
        notes.append("no model_performance report yet")
    elif note:
        notes.append(note)
    else:
        notes.append(f"model_performance report #{report.pk} has no accuracy")
    if rows < minimum:
        notes.append(f"{rows} unconsumed labelled rows, fewer than MIN_LABELLED_ROWS={minimum}")
        result["note"] = "; ".join(notes)
        return result
    value = right / rows
    result.update(
        value=value,
        fired=value < threshold,
        active=value < threshold,
        source=f"{rows} unconsumed labelled rows",
    )
    if notes:
        result["note"] = "; ".join(notes)
    return result
