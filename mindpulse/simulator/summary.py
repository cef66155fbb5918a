"""The figures of a simulated run, and what its scenario must show (issue 12's table).

Read from the database and the timeline after the run; each scenario's `checks` say plainly
whether its promise held, with the numbers behind the answer.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import numpy as np

from training.features import FEATURE_NAMES


def summarise(loop) -> dict:
    from django.conf import settings

    from monitoring.models import Alert
    from predictions.models import Feedback, Prediction
    from training.models import ModelVersion, RetrainRun

    events = loop.recorder.events
    retrains = [e for e in events if e["type"] == "retrain"]
    reports = [e for e in events if e["type"] == "report"]
    alerts = Alert.objects.all()
    labelled = Feedback.objects.count()
    rejected = ModelVersion.objects.filter(status="rejected")
    summary = {
        "scenario": loop.o.scenario,
        "days": loop.o.days,
        "reports_html": loop.o.reports_html,  # REPORTS_HTML during the run
        "predictions": Prediction.objects.count(),
        "labelled_rows": labelled,
        "report_runs": len({e["id"] for e in reports if e["kind"] == "data_drift"}),
        "reports": dict(Counter(f"{e['kind']}:{e['status']}" for e in reports)),
        "retrain_checks": RetrainRun.objects.count(),
        "retrain_decisions": dict(Counter(e["decision"] for e in retrains)),
        "retrains_by_trigger": dict(Counter(",".join(e["fired"]) for e in retrains if _trained(e))),
        "retrain_messages": loop.messages["retrain"],
        "alerts": dict(Counter(f"{a.severity}:{a.kind}" for a in alerts)),
        "critical_alerts": alerts.filter(severity="critical").count(),
        "activations": [
            {k: e[k] for k in ("at", "version", "clean_auc")}
            for e in events
            if e["type"] == "activation"
        ],
        "rejected_versions": rejected.count(),
        "rejected_versions_with_files": rejected.filter(files_pruned_at__isnull=True).count(),
        "settings": {
            name: getattr(settings, name)
            for name in (
                "RETRAIN_THRESHOLD",
                "DRIFT_THRESHOLD",
                "DRIFT_MIN_ROWS",
                "DRIFT_LOOKBACK_HOURS",
                "PERFORMANCE_TRIGGER",
                "PERFORMANCE_METRIC",
                "PERFORMANCE_TOLERANCE",
                "MIN_LABELLED_ROWS",
                "KEEP_REJECTED_VERSIONS",
                "RETRAIN_FEEDBACK_DELAY_SECONDS",
            )
        },
    }
    check = CHECKS.get(loop.o.scenario)
    summary["checks"] = check(loop, events, summary) if check else {}
    return summary


def _trained(event: dict) -> bool:
    return event["decision"] in ("promoted", "rejected", "failed")


def _at(event: dict) -> datetime:
    return datetime.fromisoformat(event["at"])


def _shift_time(loop):
    from .traffic import START

    return START + timedelta(days=loop.o.shift_day)


def _stable(loop, events, summary) -> dict:
    from django.conf import settings

    retrains = [e for e in events if e["type"] == "retrain" and _trained(e)]
    by_condition = [e for e in retrains if {"drift", "performance"} & set(e["fired"])]
    by_data = [e for e in retrains if e["fired"] == ["data"]]
    expected = summary["labelled_rows"] // settings.RETRAIN_THRESHOLD
    return {
        "critical_alerts == 0": summary["critical_alerts"] == 0,
        "retrains by drift or performance == 0": len(by_condition) == 0,
        "data retrains": len(by_data),
        "floor(labelled / RETRAIN_THRESHOLD)": expected,
        "data retrains within ±1": abs(len(by_data) - expected) <= 1,
        "rejected versions with files <= KEEP_REJECTED_VERSIONS": (
            summary["rejected_versions_with_files"] <= settings.KEEP_REJECTED_VERSIONS
        ),
    }


def _covariate(loop, events, summary) -> dict:
    shift = _shift_time(loop)
    drift = [e for e in events if e["type"] == "report" and e["kind"] == "data_drift"]
    after = [e for e in drift if _at(e) > shift and e["status"] == "ok"]
    first = after[0] if after else None
    flagged = set((first or {}).get("drifted") or [])
    drifted = [e for e in after if (e.get("drift_share") or 0) > _threshold()]
    retrains = [e for e in events if e["type"] == "retrain" and _trained(e) and _at(e) > shift]
    by_drift = [e for e in retrains if "drift" in e["fired"]]
    hours = None
    if drifted and by_drift:
        hours = round((_at(by_drift[0]) - _at(drifted[0])).total_seconds() / 3600, 2)
    promoted = [e for e in by_drift if e["decision"] == "promoted"]
    again = [e for e in by_drift if promoted and _at(e) > _at(promoted[0])]
    return {
        "first report after the shift flags": sorted(flagged),
        "flags Sleep_Duration and Stress_Level": {"Sleep_Duration", "Stress_Level"} <= flagged,
        "hours from the first drifted report to the drift retrain": hours,
        "retrain within 24 h": hours is not None and hours <= 24,
        "drift-triggered retrains after the shift": len(by_drift),
        "drift-triggered retrains after the promotion": len(again),
        "no further drift retrain after the promotion": bool(promoted) and not again,
    }


def _concept(loop, events, summary) -> dict:
    shift = _shift_time(loop)
    retrains = [e for e in events if e["type"] == "retrain" and _trained(e) and _at(e) > shift]
    by_performance = [e for e in retrains if "performance" in e["fired"]]
    result = {"performance-triggered retrains": len(by_performance)}
    if by_performance:
        first = by_performance[0]
        report = _report_before(events, _at(first), "model_performance")
        result["labelled rows of the report that fired"] = (report or {}).get("rows")
        result["hours after the shift"] = round((_at(first) - shift).total_seconds() / 3600, 1)
    promoted = [e for e in retrains if e["decision"] == "promoted"]
    result.update(_cbpe_gap(events, shift, _at(promoted[0]) if promoted else None))
    if promoted:
        result.update(_old_vs_new(loop, promoted[0]))
    result["promoted model better on the same rows"] = result.get("new_auc", 0) > result.get(
        "old_auc", 1
    )
    return result


def _cbpe_gap(events, shift, promotion) -> dict:
    """Realised vs CBPE-estimated ROC AUC of the performance reports, before the shift and
    between the shift and the first promotion (the old model facing the new relation)."""
    reports = [
        e
        for e in events
        if e["type"] == "report"
        and e["kind"] == "model_performance"
        and e["status"] == "ok"
        and e.get("roc_auc") is not None
        and (e.get("estimated") or {}).get("roc_auc") is not None
    ]

    def mean(values):
        return round(float(np.mean(values)), 4) if values else None

    out = {}
    for label, chosen in (
        ("before the shift", [e for e in reports if _at(e) <= shift]),
        (
            "after the shift, old model",
            [e for e in reports if _at(e) > shift and (promotion is None or _at(e) <= promotion)],
        ),
    ):
        out[f"reports {label}"] = len(chosen)
        out[f"realised / estimated ROC AUC {label}"] = [
            mean([e["roc_auc"] for e in chosen]),
            mean([e["estimated"]["roc_auc"] for e in chosen]),
        ]
    return out


def _report_before(events, at, kind):
    before = [e for e in events if e["type"] == "report" and e["kind"] == kind]
    before = [e for e in before if e["status"] == "ok" and _at(e) <= at]
    return before[-1] if before else None


def _old_vs_new(loop, promotion: dict) -> dict:
    """Both models on the same labelled production rows after the promotion: ROC AUC."""
    from sklearn.metrics import roc_auc_score

    from predictions.models import Prediction
    from training import serving
    from training.models import ModelVersion, RetrainRun
    from training.selectors import FIELD_OF

    run = RetrainRun.objects.select_related("champion", "new_version").get(pk=promotion["id"])
    rows = list(
        Prediction.objects.filter(created_at__gt=run.finished_at).values(
            "pk", *[FIELD_OF[n] for n in FEATURE_NAMES]
        )
    )
    if not rows or run.champion is None:
        return {"rows after the promotion": len(rows)}
    import pandas as pd

    frame = pd.DataFrame(rows).rename(columns={FIELD_OF[n]: n for n in FEATURE_NAMES})
    truth = np.array([loop.truth[r["pk"]] for r in rows], dtype=int)
    scores = {}
    for name, stale in (("old_auc", run.champion), ("new_auc", run.new_version)):
        version = ModelVersion.objects.get(pk=stale.pk)
        probability = serving.load_version(version).predictor.predict_proba(
            frame[list(FEATURE_NAMES)]
        )
        scores[name] = round(float(roc_auc_score(truth, probability)), 4)
    return {"rows after the promotion": len(rows), **scores}


def _prevalence(loop, events, summary) -> dict:
    shift = _shift_time(loop)
    labels = [e for e in events if e["type"] == "alert" and _at(e) > shift]
    # A retrain's own outcome (promoted, rejected, failed) says nothing about the traffic.
    about_traffic = [e for e in labels if not e["kind"].startswith("retrain_")]
    before, after = _rates(loop, shift)
    return {
        "alerts after the shift": sorted({e["kind"] for e in labels}),
        "detected (an alert about the traffic after the shift)": bool(about_traffic),
        "true positive share before / after": [before["prevalence"], after["prevalence"]],
        "flagged share before / after": [before["flagged"], after["flagged"]],
        "precision before / after": [before["precision"], after["precision"]],
        "recall before / after": [before["recall"], after["recall"]],
        "consequence": (
            "The decision threshold was tuned for F1 at the training prevalence. With twice the "
            "positives, precision rises and recall stays (the ranking does not change), so the "
            "F1-optimal threshold moves down and the predicted probabilities are "
            "under-calibrated; a retrain on the new labels re-tunes the threshold."
        ),
    }


def _rates(loop, shift):
    from predictions.models import Prediction

    out = []
    for rows in (
        Prediction.objects.filter(created_at__lt=shift),
        Prediction.objects.filter(created_at__gte=shift),
    ):
        pairs = [(loop.truth[pk], label) for pk, label in rows.values_list("pk", "label")]
        if not pairs:
            out.append({"prevalence": None, "flagged": None, "precision": None, "recall": None})
            continue
        truth = np.array([p[0] for p in pairs], dtype=bool)
        flagged = np.array([p[1] for p in pairs], dtype=bool)
        tp = int((truth & flagged).sum())
        out.append(
            {
                "prevalence": round(float(truth.mean()), 4),
                "flagged": round(float(flagged.mean()), 4),
                "precision": round(tp / max(int(flagged.sum()), 1), 4),
                "recall": round(tp / max(int(truth.sum()), 1), 4),
            }
        )
    return out


def _burst(loop, events, summary) -> dict:
    burst = [e for e in events if e["type"] == "burst"]
    if not burst:
        return {"burst": "did not happen (shift day beyond the run)"}
    start = _at(burst[0])
    window = [
        e
        for e in events
        if e["type"] == "retrain"
        and e["trigger"] == "feedback"
        and start <= _at(e) <= start + timedelta(hours=3)
    ]
    trained = [e for e in window if _trained(e)]
    return {
        "burst rows": burst[0]["rows"],
        "feedback retrains for the burst": len(trained),
        "exactly one retrain": len(trained) == 1,
        "retrain messages sent (whole run)": summary["retrain_messages"],
        "e-mails sent (whole run)": summary.get("emails"),
    }


def _poisoning(loop, events, summary) -> dict:
    activations = [e for e in events if e["type"] == "activation"]
    first, last = activations[0]["clean_auc"], activations[-1]["clean_auc"]
    poison = [e for e in events if e["type"] == "poison"]
    kept = abs(last - first) <= 0.01
    return {
        "clean ROC AUC at the start / in service at the end": [first, last],
        "within 0.01": kept,
        "flipped labels accepted / throttled": [
            sum(e["accepted"] for e in poison),
            sum(e["throttled"] for e in poison),
        ],
        "statement": (
            "the model in service kept its ROC AUC on clean held-out rows"
            if kept
            else "the model in service did NOT keep its ROC AUC on clean held-out rows: the "
            "default rate limit (THROTTLE_FEEDBACK) lets one client's flipped labels into the "
            "retrain data"
        ),
    }


def _threshold() -> float:
    from django.conf import settings

    return settings.DRIFT_THRESHOLD


CHECKS = {
    "stable": _stable,
    "covariate_shift": _covariate,
    "concept_shift": _concept,
    "prevalence_shift": _prevalence,
    "feedback_burst": _burst,
    "poisoning": _poisoning,
}
