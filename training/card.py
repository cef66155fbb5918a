"""The model card of a version (after Mitchell et al., "Model Cards for Model Reporting"),
generated from the registry: what the public page and the admin page show.

`data_summary(outcome)` is pure (it runs at registration, stored on the version);
`model_card(version)` reads the registry rows; `reliability_chart(curve)` is the SVG geometry
of the reliability diagram.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TARGET

CARD_METRICS: tuple[str, ...] = (
    "roc_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "false_positive_rate",
    "brier",
    "ece",
)
CHART_SIZE = 240
_PAD = 32


def data_summary(outcome: Any, sources: list[dict] | None = None) -> dict[str, Any]:
    """Rows per split, prevalence, each numeric feature's range and each category's count,
    over the rows the model was trained, validated and tested on."""
    split = outcome.split
    frame = pd.concat([split.X_train, split.X_val, split.X_test], ignore_index=True)
    labels = np.concatenate([split.y_train, split.y_val, split.y_test])
    ranges = {}
    for name in NUMERIC_FEATURES:
        values = pd.to_numeric(frame[name], errors="coerce")
        ranges[name] = {
            "min": None if values.isna().all() else float(values.min()),
            "max": None if values.isna().all() else float(values.max()),
            "blank": int(values.isna().sum()),
        }
    categories = {
        name: {str(k): int(v) for k, v in frame[name].value_counts(dropna=False).items()}
        for name in CATEGORICAL_FEATURES
    }
    return {
        "rows": int(outcome.rows),
        "splits": split.sizes,
        "prevalence": float(labels.mean()) if len(labels) else None,
        "target": TARGET,
        "ranges": ranges,
        "categories": categories,
        "sources": sources or [],
    }


def reliability_chart(curve: list[dict], *, size: int = CHART_SIZE) -> dict[str, Any]:
    """Points (mean estimate, observed rate) on a square 0..1 x 0..1 plot with its diagonal;
    a dot's radius grows with the rows of its bin."""
    plot = size - 2 * _PAD
    top = max([0.0, *[max(b["mean_predicted"], b["observed"]) for b in curve]])
    scale_top = 1.0 if top > 0.5 else 0.5 if top > 0.25 else 0.25 if top > 0 else 1.0

    def x(value: float) -> float:
        return round(_PAD + plot * min(value, scale_top) / scale_top, 1)

    def y(value: float) -> float:
        return round(size - _PAD - plot * min(value, scale_top) / scale_top, 1)

    largest = max([1, *[b["count"] for b in curve]])
    dots = [
        {
            "x": x(b["mean_predicted"]),
            "y": y(b["observed"]),
            "r": round(2.5 + 5.5 * (b["count"] / largest) ** 0.5, 1),
            "title": (
                f"{b['low']:.1f}–{b['high']:.1f}: {b['count']} rows, estimate "
                f"{b['mean_predicted']:.3f}, observed {b['observed']:.3f}"
            ),
        }
        for b in curve
    ]
    ticks = [round(scale_top * k / 4, 4) for k in range(5)]
    return {
        "size": size,
        "low": _PAD,
        "high": size - _PAD,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "x_ticks": [{"at": x(t), "label": f"{t:g}"} for t in ticks],
        "y_ticks": [{"at": y(t), "label": f"{t:g}"} for t in ticks],
        "top": scale_top,
    }


def metric_rows(metrics: dict, intervals: dict) -> list[dict[str, Any]]:
    rows = []
    for name in CARD_METRICS:
        entry = intervals.get(name) or {}
        value = entry.get("value", metrics.get(name))
        if value is None and name not in metrics:
            continue
        rows.append(
            {"name": name, "value": value, "low": entry.get("low"), "high": entry.get("high")}
        )
    return rows


def history(version) -> list[dict[str, Any]]:
    """When the version was registered, activated and retired, by whom and why."""
    from .models import ActivationEvent

    events: list[dict[str, Any]] = []
    run = version.run
    events.append(
        {
            "at": version.created_at,
            "what": "registered",
            "why": (
                f"retrain #{run.pk} ({run.get_trigger_display().lower()}): "
                f"{run.get_decision_display().lower()}; {run.reason}"
                if run is not None
                else "trained with manage.py train"
            ),
        }
    )
    related = ActivationEvent.objects.filter(version=version) | ActivationEvent.objects.filter(
        previous=version
    )
    for event in related.select_related("version", "activated_by").order_by("created_at"):
        by = event.activated_by.get_username() if event.activated_by else None
        if event.version_id == version.pk:
            events.append(
                {"at": event.created_at, "what": "activated", "why": event.reason, "by": by}
            )
        else:
            events.append(
                {
                    "at": event.created_at,
                    "what": "retired",
                    "why": f"v{event.version.version} took over: {event.reason}",
                    "by": by,
                }
            )
    return events


def model_card(version) -> dict[str, Any]:
    calibration = version.calibration or {}
    intervals = version.intervals or {}
    data = version.data_summary or {}
    ages = (data.get("ranges") or {}).get("Age") or {}
    test = intervals or {}
    return {
        "version": version,
        "metrics": metric_rows(version.metrics or {}, intervals),
        "threshold_percent": round(version.threshold * 100),
        "plain": {
            key: (test.get(key) or {}).get("value", (version.metrics or {}).get(key))
            for key in ("precision", "recall", "false_positive_rate", "prevalence")
        },
        "calibration": calibration,
        "reliability_before": reliability_chart(calibration.get("test_reliability_before") or []),
        "reliability": reliability_chart(calibration.get("test_reliability") or []),
        "has_reliability": bool(calibration.get("test_reliability")),
        "groups": (version.groups or {}).get("features") or {},
        "worst_gap": (version.groups or {}).get("worst_recall_gap"),
        "data": data,
        "ages": ages,
        "history": history(version),
        "test_rows": (version.metrics or {}).get("n"),
    }
