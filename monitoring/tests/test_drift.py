"""Tests of monitoring.drift: pure functions, generated data, no database.

monitoring.drift imports nothing from Django; the root conftest's autouse fixture still gives
each test its own folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring import drift
from monitoring.drift import data_drift, data_quality, model_performance
from training.features import (
    CATEGORICAL_FEATURES,
    DEPARTMENTS,
    FEATURE_NAMES,
    GENDERS,
    NUMERIC_FEATURES,
)

SHIFTED = {"Sleep_Duration", "Stress_Level"}


def students(n: int, seed: int) -> pd.DataFrame:
    """The nine features with realistic ranges, plus Student_ID, target/prediction/probability."""
    rng = np.random.default_rng(seed)
    stress = rng.integers(1, 9, n)
    sleep = np.clip(rng.normal(7.0, 1.0, n), 3.0, 11.0).round(1)
    logit = 0.6 * (stress - 4.5) - 0.5 * (sleep - 7.0) + rng.normal(0, 1.0, n)
    probability = 1 / (1 + np.exp(-logit))
    target = (rng.random(n) < probability).astype(int)
    return pd.DataFrame(
        {
            "Student_ID": np.arange(1, n + 1),
            "Age": rng.integers(18, 31, n),
            "Gender": rng.choice(GENDERS, n),
            "Department": rng.choice(DEPARTMENTS, n),
            "CGPA": rng.uniform(2.0, 4.0, n).round(2),
            "Sleep_Duration": sleep,
            "Study_Hours": np.clip(rng.normal(4.0, 1.5, n), 0.0, 12.0).round(1),
            "Social_Media_Hours": np.clip(rng.normal(3.0, 1.2, n), 0.0, 10.0).round(1),
            "Physical_Activity": rng.integers(0, 121, n),
            "Stress_Level": stress,
            "target": target,
            "prediction": (probability > 0.5).astype(int),
            "probability": probability,
        }
    )


def shifted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["Sleep_Duration"] = out["Sleep_Duration"] - 2.0
    out["Stress_Level"] = out["Stress_Level"] + 3
    return out


def assert_plain_json(summary: dict) -> None:
    json.dumps(summary, allow_nan=False)  # raises on NaN, numpy scalars, enums ...


# ---------------------------------------------------------------------------------- drift ---


@pytest.mark.parametrize(
    "reference_rows",
    # Evidently's own default would pick p-value tests for the reference of 600 rows; the
    # method is pinned to the distances (issue 12) whatever the sizes.
    [3000, 600],
)
def test_it_flags_the_shifted_features_and_dataset_drift(reference_rows):
    reference = students(reference_rows, seed=1)
    current = shifted(students(1000, seed=2))

    summary = data_drift(reference, current, threshold=0.2)

    assert_plain_json(summary)
    assert set(summary["drifted_features"]) == SHIFTED
    assert summary["dataset_drift"] is True
    assert summary["n_features"] == 9
    assert summary["threshold"] == 0.2
    assert summary["drifted_count"] == len(summary["drifted_features"])
    assert summary["drift_share"] == pytest.approx(summary["drifted_count"] / 9)
    assert list(summary["features"]) == list(FEATURE_NAMES)
    assert summary["evidently"] == {
        "drifted_count": summary["drifted_count"],
        "drift_share": pytest.approx(summary["drift_share"]),
    }
    for name, result in summary["features"].items():
        assert set(result) == {"method", "score", "threshold", "drifted"}
        expected = "Jensen-Shannon" if name in CATEGORICAL_FEATURES else "Wasserstein"
        assert expected in result["method"] and "p_value" not in result["method"], (
            name,
            result["method"],
        )
        assert result["threshold"] == drift.DRIFT_METHOD_THRESHOLD == 0.1
        # Evidently's test status agrees with the distance rule.
        assert result["drifted"] == (result["score"] >= result["threshold"])


@pytest.mark.parametrize(("reference_rows", "current_rows"), [(3000, 1000), (800, 400)])
def test_it_does_not_flag_dataset_drift_for_the_same_distribution(reference_rows, current_rows):
    summary = data_drift(
        students(reference_rows, seed=3), students(current_rows, seed=4), threshold=0.5
    )

    assert summary["dataset_drift"] is False
    assert summary["drift_share"] <= 0.5
    assert not SHIFTED & set(summary["drifted_features"])


def test_it_ignores_target_prediction_and_id_columns_in_the_drift_share():
    reference = students(2000, seed=5)
    current = students(800, seed=6)
    # Make the non-feature columns drift as hard as possible: if counted, the share would move.
    current["target"] = 1
    current["prediction"] = 1
    current["probability"] = 0.99
    current["Student_ID"] += 10**6
    current["Depression"] = 1

    with_extras = data_drift(reference, current, threshold=0.5)
    features_only = data_drift(
        reference[list(FEATURE_NAMES)], current[list(FEATURE_NAMES)], threshold=0.5
    )

    assert with_extras["features"] == features_only["features"]
    assert with_extras["drift_share"] == features_only["drift_share"]
    assert with_extras["n_features"] == 9
    assert with_extras["evidently"] == features_only["evidently"]


def test_it_reports_an_entirely_missing_feature_as_drifted():
    reference = students(600, seed=7)
    current = students(300, seed=8)
    current["CGPA"] = np.nan

    summary = data_drift(reference, current, threshold=0.5)

    assert summary["features"]["CGPA"] == {
        "method": "all_missing",
        "score": None,
        "threshold": None,
        "drifted": True,
    }
    assert "CGPA" in summary["drifted_features"]
    assert_plain_json(summary)


def test_it_reads_drift_from_the_metric_when_a_test_result_is_absent():
    result = {
        "metrics": [
            {
                "id": "m1",
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": "Age",
                    "method": "K-S p_value",
                    "threshold": 0.05,
                },
                "value": 0.01,
            },
            {
                "id": "m2",
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": "Gender",
                    "method": "Jensen-Shannon distance",
                    "threshold": 0.1,
                },
                "value": 0.05,
            },
        ],
        "tests": [],
    }

    features = drift._value_drift_results(result, ["Age", "Gender"])

    assert features["Age"] == {
        "method": "K-S p_value",
        "score": 0.01,
        "threshold": 0.05,
        "drifted": True,
    }
    assert features["Gender"]["drifted"] is False
    with pytest.raises(RuntimeError, match="CGPA"):
        drift._value_drift_results(result, ["Age", "CGPA"])


def test_it_rejects_a_bad_threshold_or_missing_columns():
    frame = students(50, seed=9)
    with pytest.raises(ValueError, match="threshold"):
        data_drift(frame, frame, threshold=1.5)
    with pytest.raises(ValueError, match="Stress_Level"):
        data_drift(frame, frame.drop(columns=["Stress_Level"]), threshold=0.5)


# -------------------------------------------------------------------------------- quality ---


def test_it_counts_quality_issues_like_a_hand_count():
    reference = pd.DataFrame(
        {
            "Student_ID": [1, 2, 3, 4],
            "Age": [18, 20, 25, 30],
            "Gender": ["Male", "Female", "Male", "Female"],
            "Department": ["Arts", "Science", "Arts", "Medical"],
            "CGPA": [2.0, 3.0, 3.5, 4.0],
            "Sleep_Duration": [5.0, 6.0, 7.0, 8.0],
            "Study_Hours": [1.0, 2.0, 3.0, 4.0],
            "Social_Media_Hours": [0.5, 1.0, 2.0, 3.0],
            "Physical_Activity": [0, 30, 60, 90],
            "Stress_Level": [2, 4, 6, 8],
        }
    )
    current = pd.DataFrame(
        {
            "Student_ID": [10, 11, 12, 13, 14],
            "Age": [17, 18, 31, np.nan, 22],  # 1 below, 1 above, 1 missing
            "Gender": ["Male", None, "Other", "Other", "Female"],  # 1 missing, Other x2
            "Department": ["Arts", "Law", "Business", "Arts", None],  # Law, Business; 1 missing
            "CGPA": [2.0, 4.0, 3.0, 3.1, 1.9],  # 1 below
            "Sleep_Duration": [4.9, 8.1, 9.0, 6.0, 7.0],  # 1 below, 2 above
            "Study_Hours": [1.0, 2.0, 3.0, 4.0, 4.0],  # clean
            "Social_Media_Hours": ["0.5", "lots", "1.0", None, "3.5"],  # 1 unparseable + 1 None
            "Physical_Activity": [0, 90, 91, 45, 30],  # 1 above
            "Stress_Level": [1, 9, 10, 2, 8],  # 1 below, 2 above
        }
    )

    summary = data_quality(reference, current, html_path=None)

    assert_plain_json(summary)
    assert summary["rows"] == 5
    assert summary["reference_rows"] == 4
    assert summary["n_features"] == 9
    assert summary["missing"] == {
        "Age": 1,
        "Gender": 1,
        "Department": 1,
        "CGPA": 0,
        "Sleep_Duration": 0,
        "Study_Hours": 0,
        "Social_Media_Hours": 2,
        "Physical_Activity": 0,
        "Stress_Level": 0,
    }
    assert summary["non_numeric"]["Social_Media_Hours"] == 1
    assert sum(summary["non_numeric"].values()) == 1
    assert summary["out_of_range"] == {
        "Age": 2,
        "CGPA": 1,
        "Sleep_Duration": 3,
        "Study_Hours": 0,
        "Social_Media_Hours": 1,
        "Physical_Activity": 1,
        "Stress_Level": 3,
    }
    assert summary["training_range"]["Sleep_Duration"] == {
        "min": 5.0,
        "max": 8.0,
        "below": 1,
        "above": 2,
    }
    assert summary["unseen_categories"] == {
        "Gender": {"Other": 2},
        "Department": {"Law": 1, "Business": 1},
    }
    assert summary["totals"] == {
        "missing": 5,
        "out_of_range": 11,
        "unseen_categories": 4,
        "implausible_day": 0,
    }
    # Evidently saw only the nine features, and agrees on the missing values.
    assert summary["evidently"]["column_count"] == 9
    assert summary["evidently"]["row_count"] == 5
    assert summary["evidently"]["missing_by_feature"] == summary["missing"]
    assert set(summary["out_of_range"]) == set(NUMERIC_FEATURES)
    assert set(summary["unseen_categories"]) == set(CATEGORICAL_FEATURES)


def test_it_finds_no_quality_issues_in_the_reference_itself():
    reference = students(500, seed=10)

    summary = data_quality(reference, reference.sample(200, random_state=0), html_path=None)

    assert summary["totals"] == {
        "missing": 0,
        "out_of_range": 0,
        "unseen_categories": 0,
        "implausible_day": 0,
    }


def test_it_counts_the_days_of_more_than_24_hours():
    reference = students(200, seed=3)
    current = reference.head(4).copy()
    hours = ["Sleep_Duration", "Study_Hours", "Social_Media_Hours"]
    current[hours] = [[12.0, 10.0, 4.0], [8.0, 8.0, 8.0], [11.0, 11.0, 2.1], [np.nan, 20.0, 9.0]]

    summary = data_quality(reference, current, html_path=None)

    # 26 h and 24.1 h count; exactly 24 h does not, nor a day with a missing answer.
    assert summary["implausible_day"] == 2
    assert summary["totals"]["implausible_day"] == 2


# ---------------------------------------------------------------------------- performance ---


def labelled_ten() -> pd.DataFrame:
    """tp=4, fn=2 (six positives), fp=1, tn=3 (four negatives).

    ROC AUC by hand: of the 6 x 4 positive/negative pairs, the positive has the higher
    probability in 4 + 4 + 4 + 3 + 2 + 1 = 18, so AUC = 18 / 24 = 0.75.
    """
    return pd.DataFrame(
        {
            "target": [1, 1, 1, 1, 1, 1, 0, 0, 0, 0],
            "prediction": [1, 1, 1, 1, 0, 0, 1, 0, 0, 0],
            "probability": [0.9, 0.8, 0.7, 0.6, 0.4, 0.2, 0.65, 0.3, 0.1, 0.45],
        }
    )


def test_it_computes_performance_like_a_hand_count():
    current = labelled_ten()
    reference = students(400, seed=11)

    summary = model_performance(reference, current, html_path=None)

    assert_plain_json(summary)
    got = summary["current"]
    assert (got["tp"], got["fp"], got["fn"], got["tn"]) == (4, 1, 2, 3)
    assert got["rows"] == 10
    assert got["dropped_rows"] == 0
    assert got["positives"] == 6
    assert got["accuracy"] == pytest.approx(7 / 10)
    assert got["precision"] == pytest.approx(4 / 5)
    assert got["recall"] == pytest.approx(4 / 6)
    assert got["f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))
    assert got["roc_auc"] == pytest.approx(0.75)
    assert summary["reference"]["rows"] == 400
    assert 0.5 < summary["reference"]["roc_auc"] <= 1.0
    # Evidently, on the same rows, agrees.
    assert summary["evidently"]["report"] == "ClassificationPreset"
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert summary["evidently"]["current"][key] == pytest.approx(got[key]), key


def test_it_has_evidently_score_the_labels_at_the_model_threshold():
    # A model whose threshold is 0.3: probability 0.4 is a positive decision.
    current = labelled_ten()
    current["prediction"] = (current["probability"] >= 0.3).astype(int)
    reference = students(400, seed=14)
    reference["prediction"] = (reference["probability"] >= 0.3).astype(int)

    given = model_performance(reference, current, threshold=0.3)
    inferred = model_performance(reference, current)

    # tp: 0.9 0.8 0.7 0.6 0.4; fn: 0.2; fp: 0.65 0.3 0.45; tn: 0.1 (at 0.5 it would be 7/10).
    assert given["current"]["accuracy"] == pytest.approx(6 / 10)
    assert given["current"]["recall"] == pytest.approx(5 / 6)
    assert given["evidently"]["threshold"] == 0.3
    assert inferred["evidently"]["threshold"] == pytest.approx(0.3, abs=0.01)
    for summary in (given, inferred):
        assert summary["evidently"]["report"] == "ClassificationPreset"
        for key in ("accuracy", "precision", "recall", "f1"):
            assert summary["evidently"]["current"][key] == pytest.approx(summary["current"][key]), (
                key
            )


def test_it_shows_evidently_the_labels_only_when_no_threshold_explains_them():
    current = labelled_ten()
    current.loc[0, "prediction"] = 0  # probability 0.9, yet decided negative
    reference = labelled_ten()

    summary = model_performance(reference, current, threshold=0.5)

    assert summary["evidently"]["report"] == "ClassificationPreset (labels only)"
    assert summary["evidently"]["threshold"] is None
    assert summary["evidently"]["current"]["accuracy"] == pytest.approx(6 / 10)
    assert summary["current"]["accuracy"] == pytest.approx(6 / 10)


def test_it_drops_rows_without_labels_before_scoring():
    current = labelled_ten()
    current.loc[10] = [np.nan, 1, 0.9]
    current.loc[11] = [1, 1, np.nan]

    summary = model_performance(labelled_ten(), current, html_path=None)

    assert summary["current"]["rows"] == 10
    assert summary["current"]["dropped_rows"] == 2
    assert summary["current"]["accuracy"] == pytest.approx(0.7)


def test_it_returns_no_roc_auc_for_a_single_class(tmp_path: Path):
    current = labelled_ten()
    current = current[current["target"] == 1]  # positives only
    html = tmp_path / "performance.html"

    summary = model_performance(labelled_ten(), current, html_path=str(html))

    assert_plain_json(summary)
    assert summary["current"]["roc_auc"] is None
    assert summary["reference"]["roc_auc"] == pytest.approx(0.75)
    assert summary["current"]["recall"] == pytest.approx(4 / 6)
    assert summary["current"]["precision"] == pytest.approx(1.0)
    assert "<html" in html.read_text(encoding="utf-8").lower()


def test_it_still_writes_a_report_when_both_frames_have_one_class(tmp_path: Path):
    ones = pd.DataFrame({"target": [1, 1, 1], "prediction": [1, 1, 1], "probability": [0.9] * 3})
    html = tmp_path / "performance.html"

    summary = model_performance(ones, ones, html_path=str(html))

    assert summary["current"]["roc_auc"] is None
    assert summary["current"]["accuracy"] == 1.0
    assert summary["current"]["precision"] == 1.0
    assert "<html" in html.read_text(encoding="utf-8").lower()
    assert_plain_json(summary)


def test_it_rejects_labels_other_than_zero_and_one():
    frame = labelled_ten()
    frame.loc[0, "prediction"] = 2
    with pytest.raises(ValueError, match="prediction"):
        model_performance(labelled_ten(), frame)


# ----------------------------------------------------------------------------------- html ---


def test_it_writes_the_html_reports_at_the_given_paths(tmp_path: Path):
    reference = students(600, seed=12)
    current = shifted(students(300, seed=13))
    paths = {name: tmp_path / "reports" / f"{name}.html" for name in ("quality", "drift", "perf")}

    data_quality(reference, current, html_path=str(paths["quality"]))
    data_drift(reference, current, threshold=0.5, html_path=str(paths["drift"]))
    model_performance(reference, current, html_path=str(paths["perf"]))

    for path in paths.values():
        text = path.read_text(encoding="utf-8")
        assert "<html" in text.lower()
        assert "</html>" in text.lower()
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "drift.html",
        "perf.html",
        "quality.html",
    ]  # no *.part left behind


def test_it_leaves_no_partial_file_when_writing_fails(tmp_path: Path):
    class Broken:
        def save_html(self, filename):
            Path(filename).write_text("<html>half", encoding="utf-8")
            raise OSError("disk full")

    target = tmp_path / "report.html"
    with pytest.raises(OSError, match="disk full"):
        drift._write_html(Broken(), str(target))

    assert list(tmp_path.iterdir()) == []


def test_it_gives_the_same_quality_figures_without_the_html(tmp_path: Path):
    reference = students(600, seed=14)
    current = students(300, seed=15)
    current.loc[:9, "CGPA"] = np.nan

    light = data_quality(reference, current, html_path=None)
    full = data_quality(reference, current, html_path=str(tmp_path / "quality.html"))

    assert light["evidently"]["missing_by_feature"]["CGPA"] == 10
    assert {k: v for k, v in light.items() if k != "evidently"} == {
        k: v for k, v in full.items() if k != "evidently"
    }
    assert {k: v for k, v in light["evidently"].items() if k != "tests"} == {
        k: v for k, v in full["evidently"].items() if k != "tests"
    }
    # Only the dataset-level tests run without the per-column ValueStats.
    assert light["evidently"]["tests"]["passed"] + light["evidently"]["tests"]["failed"] > 0
    assert (
        light["evidently"]["tests"]["passed"] + light["evidently"]["tests"]["failed"]
        < full["evidently"]["tests"]["passed"] + full["evidently"]["tests"]["failed"]
    )


@pytest.mark.parametrize("move", [False, True])
def test_it_gives_evidentlys_drift_answers_without_the_html(tmp_path: Path, move):
    # Without HTML the stattests are called directly: the same methods, scores and decisions
    # as the DataDriftPreset's ValueDrift metrics and tests, on drifted and stable windows.
    reference = students(3000, seed=16)
    current = students(1000, seed=17)
    if move:
        current = shifted(current)
    current.loc[:20, "Age"] = np.nan  # missing values are dropped the same way

    light = data_drift(reference, current, threshold=0.2, html_path=None)
    full = data_drift(reference, current, threshold=0.2, html_path=str(tmp_path / "drift.html"))

    assert (tmp_path / "drift.html").exists()
    assert light["drifted_features"] == full["drifted_features"]
    assert set(light["drifted_features"]) == (SHIFTED if move else set())
    for name in FEATURE_NAMES:
        got, expected = light["features"][name], full["features"][name]
        assert got["method"] == expected["method"] and got["drifted"] == expected["drifted"]
        assert got["score"] == pytest.approx(expected["score"], rel=1e-9), name
        assert got["threshold"] == expected["threshold"]
    assert light["evidently"] == full["evidently"]
