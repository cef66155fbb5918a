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


def evaluate(*, force: bool) -> dict[str, dict]:
    active = selectors.active_model_version()
    since = active.activated_at if active is not None else None
    return {
        "data": _data(),
        "drift": _drift(since),
        "performance": _performance(since),
        "manual": {"value": bool(force), "threshold": True, "rule": "==", "fired": bool(force)},
    }


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
    result = {"value": None, "threshold": threshold, "rule": ">", "fired": False}
    report = monitoring_selectors.latest_drift_report()
    fresh, note = _fresh(report, since)
    if report is None:
        result["note"] = "no data_drift report yet"
        return result
    if not fresh:
        result["note"] = note
        return result
    share = (report.summary or {}).get("drift_share")
    result.update(source=f"data_drift report #{report.pk}", report_id=report.pk)
    if share is None:
        result["note"] = "the report has no drift share"
        return result
    result.update(value=float(share), fired=float(share) > threshold)
    return result


def _performance(since) -> dict:
    threshold = settings.ACCURACY_THRESHOLD
    result = {"value": None, "threshold": threshold, "rule": "<", "fired": False}
    report = monitoring_selectors.latest_performance_report()
    fresh, note = _fresh(report, since)
    accuracy = ((report.summary or {}).get("current") or {}).get("accuracy") if fresh else None
    if accuracy is not None:
        result.update(
            value=float(accuracy),
            fired=float(accuracy) < threshold,
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
    result.update(value=value, fired=value < threshold, source=f"{rows} unconsumed labelled rows")
    if notes:
        result["note"] = "; ".join(notes)
    return result
