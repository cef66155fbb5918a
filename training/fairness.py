"""Does the model find depressed students as well in every group? The per-group table of
prevalence, recall (true-positive rate), false-positive rate, precision and ROC AUC, each with
its 95 % bootstrap interval, per Gender and per Department.

Pure Python: no Django imports. The point figures come from fairlearn's MetricFrame (the
standard tool for a metric disaggregated by a sensitive feature); their intervals from the
same bootstrap as every other interval (uncertainty.py), resampled within each group.
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


def _metric_frame(y: np.ndarray, p: np.ndarray, threshold: float, groups: pd.Series):
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    def at_threshold(metric, **kwargs):
        return lambda y_true, score: metric(y_true, (score >= threshold).astype(int), **kwargs)

    def auc(y_true, score):
        return roc_auc_score(y_true, score) if len(np.unique(y_true)) == 2 else np.nan

    def prevalence(y_true, score):
        return selection_rate(y_true, y_true)  # share of the group's rows that are positive

    return MetricFrame(
        metrics={
            "prevalence": prevalence,
            "recall": at_threshold(recall_score, zero_division=np.nan),
            "false_positive_rate": at_threshold(false_positive_rate, pos_label=1),
            "precision": at_threshold(precision_score, zero_division=np.nan),
            "roc_auc": auc,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=groups.rename("group"),
    )


def _number(value: Any) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


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
        groups = frame[feature].astype("string").fillna("(blank)").reset_index(drop=True)
        by_group = _metric_frame(y, p, threshold, groups).by_group
        rows = []
        for name in by_group.index:
            rows_of = (groups == name).to_numpy()
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
                row[metric] = {
                    "value": _number(by_group.loc[name, metric]),
                    "low": bounds[metric]["low"],
                    "high": bounds[metric]["high"],
                }
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
