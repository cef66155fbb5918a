"""Does the model find depressed students as well in every group? The per-group table of
prevalence, recall (true-positive rate), false-positive rate, precision and ROC AUC, each with
its 95 % bootstrap interval, per Gender and per Department.

Pure Python: no Django imports. The figures and their intervals come from the same vectorised
bootstrap as every other interval (uncertainty.py), resampled within each group. The tests
check the table against fairlearn's MetricFrame, the standard tool for a metric disaggregated
by a sensitive feature; MetricFrame itself took ~0.6 s for a 600-row table (dozens of
scikit-learn calls), too slow for every registration and report, so it is a test dependency.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import uncertainty

GROUP_FEATURES: tuple[str, ...] = ("Gender", "Department")
GROUP_METRICS: tuple[str, ...] = (
    "prevalence",
    "recall",
    "false_positive_rate",
    "precision",
    "roc_auc",
)
# A group's recall enters the gap only when the group has at least this many positives: the
# recall of a group with three depressed students swings by a third with each of them.
MIN_GROUP_POSITIVES = 20
GROUP_RESAMPLES = 400


def group_table(
    frame: pd.DataFrame,
    y_true,
    proba,
    threshold: float,
    *,
    features: tuple[str, ...] = GROUP_FEATURES,
    resamples: int = GROUP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """{"features": {feature: {"groups": [row, ...], "recall_gap": float | None}},
    "worst_recall_gap": {"feature", "gap"} | None}, one row per group:
    {"group", "n", "positives", metric: {"value", "low", "high"}, ...}."""
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(proba, dtype=np.float64)
    out: dict[str, Any] = {
        "features": {},
        "worst_recall_gap": None,
        "min_positives": MIN_GROUP_POSITIVES,
    }
    for feature in features:
        groups = frame[feature].astype("string").fillna("(blank)").to_numpy()
        rows = []
        for name in sorted(pd.unique(groups)):
            rows_of = groups == name
            bounds = uncertainty.intervals(
                y[rows_of],
                p[rows_of],
                threshold,
                metrics=GROUP_METRICS,
                resamples=resamples,
                seed=seed,
            )
            row: dict[str, Any] = {
                "group": str(name),
                "n": int(rows_of.sum()),
                "positives": int(y[rows_of].sum()),
            }
            for metric in GROUP_METRICS:
                row[metric] = bounds[metric]
            rows.append(row)
        gap = recall_gap(rows)
        out["features"][feature] = {"groups": rows, "recall_gap": gap}
        if gap is not None and (
            out["worst_recall_gap"] is None or gap > out["worst_recall_gap"]["gap"]
        ):
            out["worst_recall_gap"] = {"feature": feature, "gap": gap}
    return out


def recall_gap(rows: list[dict[str, Any]]) -> float | None:
    """Highest minus lowest recall among the groups with MIN_GROUP_POSITIVES positives."""
    recalls = [
        r["recall"]["value"]
        for r in rows
        if r["positives"] >= MIN_GROUP_POSITIVES and r["recall"]["value"] is not None
    ]
    return float(max(recalls) - min(recalls)) if len(recalls) >= 2 else None


def gap_masks(frame: pd.DataFrame, y_true, *, features=GROUP_FEATURES) -> list[list[np.ndarray]]:
    """Per feature, the 0/1 row masks of the groups with MIN_GROUP_POSITIVES positives; a
    feature with fewer than two such groups has no gap and is left out."""
    y = np.asarray(y_true).astype(np.int64)
    out = []
    for feature in features:
        groups = frame[feature].astype("string").fillna("(blank)").to_numpy()
        masks = [
            (groups == g).astype(np.float64)
            for g in pd.unique(groups)
            if y[groups == g].sum() >= MIN_GROUP_POSITIVES
        ]
        if len(masks) >= 2:
            out.append(masks)
    return out


def worst_gap(table: dict[str, Any] | None) -> float | None:
    if not table or not table.get("worst_recall_gap"):
        return None
    return float(table["worst_recall_gap"]["gap"])
