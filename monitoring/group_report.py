"""The model-performance report's fairness section, made by Evidently: recall, false-positive
rate, precision and ROC AUC of each group (Gender, Department) on the window's labelled rows.

The reference (the version's own test rows) is not sliced here: it would double the cost,
and the version's per-group figures on its test split, with intervals, are stored on the
version (ModelVersion.groups) and shown on its model card.

Pure functions, no Django imports (called by monitoring.drift).

Why one small Report per group's slice rather than Evidently's own ``GroupBy``: Evidently
0.7's ``GroupBy(metric, column_name)`` hands each metric the group's sub-dataset, but its
classification metrics (Recall, FPR, Precision, RocAuc, ...) are legacy metrics that read the
report's whole input (``Context._input_data``), so ``GroupBy(Recall(), "Gender")`` returns the
overall recall for every group (checked on 0.7.23; ``test_group_report.py`` would notice a
fix). A Report run on each slice gives the right figures, and its widgets are Evidently's
own; they are gathered under one titled group per slice in the report's HTML.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.metrics import FPR, Precision, Recall, RocAuc
from sklearn.exceptions import UndefinedMetricWarning

_PREFIX = "evidently:metric_v2:"
# Evidently metric type -> our key (training.fairness uses the same names).
METRICS = {
    "Recall": "recall",
    "FPR": "false_positive_rate",
    "Precision": "precision",
    "RocAuc": "roc_auc",
}


def group_sections(
    current: pd.DataFrame,
    *,
    group_columns: tuple[str, ...],
    target: str,
    prediction: str,
    probability: str | None,
    threshold: float | None,
) -> tuple[list, dict[str, Any]]:
    """(Evidently widgets, one titled group per slice; plain figures).

    The figures: ``{"columns": {column: [{"group", "rows", "recall",
    "false_positive_rate", "precision", "roc_auc", "error"}]}}``, the values Evidently computed
    on the current slice (None where it could not, e.g. ROC AUC of a one-class slice).
    ``probability`` None (or no threshold) scores the labels only, without ROC AUC.
    """
    from evidently.legacy.renderers.html_widgets import group_widget

    with_proba = probability is not None and threshold is not None
    columns = [target, prediction] + ([probability] if with_proba else [])
    definition = DataDefinition(
        classification=[
            BinaryClassification(
                target=target,
                prediction_labels=prediction,
                prediction_probas=probability if with_proba else None,
                pos_label=1,
            )
        ]
    )
    widgets: list = []
    figures: dict[str, Any] = {"columns": {}}
    for column in group_columns:
        if column not in current:
            continue
        rows = []
        for name in sorted(current[column].dropna().unique(), key=str):
            cur = current.loc[current[column] == name, columns]
            row: dict[str, Any] = {
                "group": str(name),
                "rows": len(cur),
                **dict.fromkeys(METRICS.values()),
                "error": None,
            }
            metrics = [_metric(kind, threshold if with_proba else None) for kind in METRICS]
            if not with_proba or cur[target].nunique() < 2:
                metrics = [m for m in metrics if not isinstance(m, RocAuc)]
            try:
                snapshot = _run(metrics, cur, definition)
            except Exception as exc:  # Evidently fails on some degenerate slices
                row["error"] = f"{type(exc).__name__}: {exc}"
                rows.append(row)
                continue
            for metric in snapshot.dict().get("metrics", []):
                kind = str((metric.get("config") or {}).get("type", "")).removeprefix(_PREFIX)
                if kind in METRICS:
                    row[METRICS[kind]] = _number(metric.get("value"))
            rows.append(row)
            title = f"{column} = {name}: {len(cur)} labelled rows"
            # Snapshot._widgets: what Snapshot.get_html_str renders; no public accessor in 0.7.
            widgets.append(group_widget(title=title, widgets=list(snapshot._widgets)))
        figures["columns"][column] = rows
    return widgets, figures


def _metric(kind: str, threshold: float | None):
    if kind == "RocAuc":
        return RocAuc()
    return {"Recall": Recall, "FPR": FPR, "Precision": Precision}[kind](probas_threshold=threshold)


def _run(metrics: list, current: pd.DataFrame, definition):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        data = Dataset.from_pandas(current.reset_index(drop=True), data_definition=definition)
        return Report(metrics).run(data, None)


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def render(main_snapshot, sections: list) -> str:
    """The main report's HTML with the per-group sections after its own widgets."""
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import group_widget

    widgets = [group_widget(title="", widgets=list(main_snapshot._widgets))]
    if sections:
        widgets.append(group_widget(title="Per group (fairness)", widgets=sections))
    return render_widgets(widgets + list(main_snapshot._tests_widgets), as_iframe=False)
