"""Tests of monitoring.group_report: the performance report's per-group section, made by
Evidently on each group's slice. Pure: generated rows, no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.metrics import GroupBy, Recall

from monitoring import drift
from training import fairness

THRESHOLD = 0.3


def scored(n: int, seed: int, *, female_shift: float) -> pd.DataFrame:
    """Scores whose quality differs by Gender: women's scores are moved down by
    `female_shift`, so fewer depressed women cross the threshold (a lower recall)."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["Female", "Male"], n)
    department = rng.choice(["Arts", "Medical", "Science"], n)
    risk = rng.uniform(0, 1, n)
    target = (rng.uniform(0, 1, n) < risk * 0.6).astype(int)
    probability = np.clip(risk * 0.6 - np.where(gender == "Female", female_shift, 0.0), 0, 1)
    return pd.DataFrame(
        {
            "target": target,
            "prediction": (probability >= THRESHOLD).astype(int),
            "probability": probability,
            "Gender": gender,
            "Department": department,
        }
    )


def hand_recall(frame: pd.DataFrame) -> float:
    positives = frame["target"] == 1
    return float((frame.loc[positives, "prediction"] == 1).mean())


def test_it_shows_each_groups_figures_computed_by_evidently(tmp_path):
    current = scored(1200, seed=1, female_shift=0.15)
    reference = scored(800, seed=2, female_shift=0.0)
    html = tmp_path / "performance.html"

    summary = drift.model_performance(
        reference,
        current,
        threshold=THRESHOLD,
        html_path=str(html),
        group_columns=("Gender", "Department"),
    )

    rows = {r["group"]: r for r in summary["evidently"]["groups"]["columns"]["Gender"]}
    assert set(rows) == {"Female", "Male"}
    for name, row in rows.items():
        part = current[current["Gender"] == name]
        assert row["rows"] == len(part)
        assert row["recall"] == pytest.approx(hand_recall(part)), name
        assert row["error"] is None
    # The shift is real: the two groups' recalls differ, so a per-group figure equal to the
    # overall one (Evidently's GroupBy, below) could not pass.
    assert rows["Female"]["recall"] < rows["Male"]["recall"] - 0.2
    # The same figures as the stored group table (training.fairness, tested against fairlearn).
    table = fairness.group_table(
        current, current["target"], current["probability"], THRESHOLD, resamples=0
    )
    for feature in ("Gender", "Department"):
        ours = {r["group"]: r for r in table["features"][feature]["groups"]}
        theirs = {r["group"]: r for r in summary["evidently"]["groups"]["columns"][feature]}
        assert set(ours) == set(theirs)
        for name in ours:
            for metric in ("recall", "false_positive_rate", "precision", "roc_auc"):
                assert theirs[name][metric] == pytest.approx(ours[name][metric]["value"]), (
                    feature,
                    name,
                    metric,
                )
    text = html.read_text()
    assert "Per group (fairness)" in text
    for title in ("Gender = Female", "Gender = Male", "Department = Medical"):
        assert title in text


def test_it_makes_no_group_section_without_an_html_file():
    current = scored(600, seed=3, female_shift=0.1)

    summary = drift.model_performance(
        scored(400, seed=4, female_shift=0.0),
        current,
        threshold=THRESHOLD,
        group_columns=("Gender",),
    )

    assert summary["evidently"]["report"] == "ClassificationPreset"
    assert summary["evidently"]["groups"] == {"columns": {}}


def test_it_scores_the_labels_only_without_probabilities(tmp_path):
    current = scored(600, seed=3, female_shift=0.1).drop(columns="probability")
    reference = scored(400, seed=4, female_shift=0.0).drop(columns="probability")

    summary = drift.model_performance(
        reference, current, html_path=str(tmp_path / "r.html"), group_columns=("Gender",)
    )

    for row in summary["evidently"]["groups"]["columns"]["Gender"]:
        part = current[current["Gender"] == row["group"]]
        assert row["recall"] == pytest.approx(hand_recall(part))
        assert row["roc_auc"] is None


def test_it_records_a_group_evidently_cannot_score_and_keeps_the_others(tmp_path):
    current = scored(600, seed=5, female_shift=0.1)
    # One Department with a single row: no positive, no ROC AUC; Evidently may refuse it.
    current.loc[0, "Department"] = "Business"
    current.loc[0, "target"] = 0

    summary = drift.model_performance(
        scored(400, seed=6, female_shift=0.0),
        current,
        threshold=THRESHOLD,
        html_path=str(tmp_path / "r.html"),
        group_columns=("Department",),
    )

    rows = {r["group"]: r for r in summary["evidently"]["groups"]["columns"]["Department"]}
    assert set(rows) == {"Arts", "Business", "Medical", "Science"}
    assert rows["Business"]["rows"] == 1
    assert rows["Business"]["roc_auc"] is None
    for name in ("Arts", "Medical", "Science"):
        assert rows[name]["recall"] == pytest.approx(
            hand_recall(current[current["Department"] == name])
        )


def test_evidentlys_groupby_still_gives_every_group_the_overall_recall():
    """Why group_report runs one Report per slice: on the pinned Evidently, GroupBy hands a
    classification metric the whole dataset. When this fails after an upgrade, GroupBy can
    replace the per-slice reports."""
    current = scored(1200, seed=1, female_shift=0.15)
    definition = DataDefinition(
        categorical_columns=["Gender"],
        classification=[
            BinaryClassification(
                target="target",
                prediction_labels="prediction",
                prediction_probas="probability",
                pos_label=1,
            )
        ],
    )
    snapshot = Report([GroupBy(Recall(probas_threshold=THRESHOLD), "Gender")]).run(
        Dataset.from_pandas(current, data_definition=definition), None
    )

    values = [m["value"] for m in snapshot.dict()["metrics"]]
    assert len(values) == 2
    assert values == pytest.approx([hand_recall(current)] * 2)
