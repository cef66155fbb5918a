"""The generator, the Kaggle-format writer and the tolerant reader. No real rows are used here:
every CSV is either generated or written by hand."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.datagen import COLUMNS, ImportStats, generate_students, read_students_csv, write_csv
from training.features import DEPARTMENTS, FEATURE_NAMES, GENDERS, ID_COLUMN, TARGET

ROWS = 3000
HEADER = ",".join(COLUMNS)


@pytest.fixture(scope="module")
def students() -> pd.DataFrame:
    return generate_students(ROWS, seed=7)


@pytest.fixture(scope="module")
def many_students() -> pd.DataFrame:
    # The effect tests need more positives than 3,000 rows give. Generating is cheap (~20 ms).
    return generate_students(50_000, seed=11)


def _csv(*lines: str) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


def test_it_is_deterministic_for_a_seed(students):
    pd.testing.assert_frame_equal(students, generate_students(ROWS, seed=7))
    assert not students.equals(generate_students(ROWS, seed=8))


def test_it_changes_only_the_blanks_when_blank_rate_changes():
    plain = generate_students(ROWS, seed=3, blank_rate=0.0)
    blanky = generate_students(ROWS, seed=3, blank_rate=0.2)
    blanks = blanky["Physical_Activity"].isna()
    assert plain["Physical_Activity"].notna().all()
    assert 0.15 < blanks.mean() < 0.25
    pd.testing.assert_frame_equal(
        plain.drop(columns="Physical_Activity"), blanky.drop(columns="Physical_Activity")
    )
    assert (
        plain.loc[~blanks, "Physical_Activity"] == blanky.loc[~blanks, "Physical_Activity"]
    ).all()


def test_it_has_the_kaggle_schema_and_dtypes(students):
    assert tuple(students.columns) == COLUMNS == (ID_COLUMN, *FEATURE_NAMES, TARGET)
    assert students[ID_COLUMN].tolist() == list(range(1001, 1001 + ROWS))
    expected = {
        ID_COLUMN: "int64",
        "Age": "int64",
        "CGPA": "float64",
        "Sleep_Duration": "float64",
        "Study_Hours": "float64",
        "Social_Media_Hours": "float64",
        "Physical_Activity": "float64",  # always float: a cell may be blank
        "Stress_Level": "int64",
        TARGET: "bool",
    }
    assert {c: str(students[c].dtype) for c in expected} == expected


def test_it_keeps_every_value_in_the_documented_range(students):
    s = students
    assert s["Age"].between(18, 24).all() and s["Age"].nunique() == 7
    assert set(s["Gender"]) == set(GENDERS)
    assert set(s["Department"]) == set(DEPARTMENTS)
    assert s["CGPA"].between(1.7, 4.0).all()
    assert s["Sleep_Duration"].between(3.0, 12.0).all()
    assert (s["Study_Hours"] >= 0).all() and (s["Social_Media_Hours"] >= 0).all()
    assert s["Physical_Activity"].dropna().between(0, 149).all()
    assert s["Stress_Level"].between(2, 10).all()
    # Values sit on the dataset's decimal grid.
    assert np.allclose(s["CGPA"] * 100, np.round(s["CGPA"] * 100))
    assert np.allclose(s["Sleep_Duration"] * 10, np.round(s["Sleep_Duration"] * 10))


def test_it_matches_the_readme_marginals(many_students):
    s = many_students
    assert 0.09 < s[TARGET].mean() < 0.117
    assert 0.49 < (s["Gender"] == "Female").mean() < 0.535
    assert s["Department"].value_counts(normalize=True).between(0.18, 0.22).all()
    assert abs(s["CGPA"].mean() - 2.906) < 0.03 and abs(s["CGPA"].std() - 0.537) < 0.03
    assert abs(s["Sleep_Duration"].mean() - 7.0) < 0.05
    assert abs(s["Study_Hours"].mean() - 4.5) < 0.06
    # Clipping piles values up at the limits, and CGPA 4.00 is much commoner than 3.99.
    assert (s["CGPA"] == 4.0).sum() > 3 * (s["CGPA"] == 3.99).sum()
    assert (s["Study_Hours"] == 0.0).sum() > 3 * (s["Study_Hours"] == 0.1).sum()
    assert s["Stress_Level"].between(2, 6).mean() > 0.9


def test_it_makes_stress_depend_on_sleep_and_activity(many_students):
    s = many_students
    short = s["Sleep_Duration"] <= 5
    assert s.loc[short, "Stress_Level"].mean() > 5.5 > 4.3 > s.loc[~short, "Stress_Level"].mean()
    active = s.dropna(subset=["Physical_Activity"])
    assert -0.35 < np.corrcoef(s["Stress_Level"], s["Sleep_Duration"])[0, 1] < -0.2
    assert -0.35 < np.corrcoef(active["Stress_Level"], active["Physical_Activity"])[0, 1] < -0.2


def test_it_makes_low_cgpa_and_high_stress_the_depression_signals(many_students):
    s = many_students
    y = s[TARGET]
    assert 0.30 < roc_auc_score(y, s["CGPA"]) < 0.36  # low CGPA -> depressed
    quintile = pd.qcut(s["CGPA"], 5, labels=False)
    rates = y.groupby(quintile).mean()
    assert rates[0] > 0.17 and rates[[2, 3, 4]].max() < 0.09
    assert y[s["Stress_Level"] >= 8].mean() > 0.3 > 0.12 > y[s["Stress_Level"] <= 6].mean()
    assert y[s["Sleep_Duration"] <= 5.7].mean() > y[s["Sleep_Duration"] > 5.7].mean()
    for noise in ("Age", "Study_Hours", "Social_Media_Hours"):
        assert 0.47 < roc_auc_score(y, s[noise]) < 0.53


def test_it_writes_the_kaggle_format_exactly():
    frame = pd.DataFrame(
        {
            ID_COLUMN: [1001, 1002],
            "Age": [20, 23],
            "Gender": ["Female", "Male"],
            "Department": ["Arts", "Science"],
            "CGPA": [3.5, 2.721],
            "Sleep_Duration": [6.0, 7.25],
            "Study_Hours": [0.0, 4.44],
            "Social_Media_Hours": [1.0, 2.5],
            "Physical_Activity": [np.nan, 42.0],
            "Stress_Level": [3, 9],
            TARGET: [True, False],
        }
    )
    out = io.StringIO()
    write_csv(frame, out)
    assert out.getvalue() == (
        f"{HEADER}\n"
        "1001,20,Female,Arts,3.5,6.0,0.0,1.0,,3,True\n"
        "1002,23,Male,Science,2.72,7.2,4.4,2.5,42,9,False\n"
    )


def test_it_round_trips_generated_data_through_csv(tmp_path):
    frame = generate_students(ROWS, seed=5, blank_rate=0.01)
    path = tmp_path / "students.csv"
    write_csv(frame, path)
    back, stats = read_students_csv(path)
    pd.testing.assert_frame_equal(back, frame)
    assert stats.rows_read == stats.rows_kept == ROWS and stats.skipped == {}
    assert stats.missing["Physical_Activity"] == frame["Physical_Activity"].isna().sum() > 0


def test_it_counts_blank_and_non_numeric_cells_per_column_and_keeps_the_rows():
    data = _csv(
        HEADER,
        "1,20,Female,Arts,3.1,7.0,2.0,1.0, ,3,False",  # a lone space, as in the real file
        "2,abc,Male,Arts,,7.0,2.0,n/a,10,3,True",
        "3,21,Male,Arts,3.0,inf,2.0,1.0,10,3,False",
    )
    frame, stats = read_students_csv(data)
    assert stats.rows_kept == 3 and stats.skipped == {}
    assert {k: v for k, v in stats.missing.items() if v} == {
        "Physical_Activity": 1,
        "Age": 1,
        "CGPA": 1,
        "Social_Media_Hours": 1,
        "Sleep_Duration": 1,
    }
    assert frame["Age"].isna().tolist() == [False, True, False]
    assert str(frame["Age"].dtype) == "float64"  # a blank int column cannot stay int64
    assert str(frame["Stress_Level"].dtype) == "int64"


def test_it_skips_and_counts_rows_with_bad_categories_or_labels():
    data = _csv(
        HEADER,
        "1,20,Female,Arts,3.1,7.0,2.0,1.0,5,3,False",
        "2,20,Other,Arts,3.1,7.0,2.0,1.0,5,3,False",
        "3,20,,Arts,3.1,7.0,2.0,1.0,5,3,False",
        "4,20,Male,Law,3.1,7.0,2.0,1.0,5,3,False",
        "5,20,Male,,3.1,7.0,2.0,1.0,5,3,False",
        "6,20,Male,Arts,3.1,7.0,2.0,1.0,5,3,",
        "7,20,Male,Arts,3.1,7.0,2.0,1.0,5,3,maybe",
        "8,20,Other,Law,3.1,7.0,2.0,1.0,5,3,maybe",  # several problems: counted once
    )
    frame, stats = read_students_csv(data)
    assert frame[ID_COLUMN].tolist() == [1]
    assert stats.rows_read == 8 and stats.rows_kept == 1 and stats.rows_skipped == 7
    assert stats.skipped == {
        "unknown_gender": 2,
        "missing_gender": 1,
        "unknown_department": 1,
        "missing_department": 1,
        "missing_label": 1,
        "invalid_label": 1,
    }


def test_it_canonicalises_categories_and_labels_whatever_their_case():
    data = _csv(
        HEADER,
        "1,20, female ,ENGINEERING,3.1,7.0,2.0,1.0,5,3,TRUE",
        "2,20,MALE,science,3.1,7.0,2.0,1.0,5,3,no",
        "3,20,Male,Arts,3.1,7.0,2.0,1.0,5,3,1",
        "4,20,Male,Arts,3.1,7.0,2.0,1.0,5,3,0",
        "5,20,Male,Arts,3.1,7.0,2.0,1.0,5,3,Yes",
    )
    frame, stats = read_students_csv(data)
    assert stats.skipped == {}
    assert frame["Gender"].tolist() == ["Female", "Male", "Male", "Male", "Male"]
    assert frame["Department"].tolist()[:2] == ["Engineering", "Science"]
    assert frame[TARGET].tolist() == [True, False, True, False, True]
    assert frame[TARGET].dtype == bool


def test_it_accepts_a_file_without_student_id_and_with_extra_columns():
    header = ",".join([*FEATURE_NAMES, TARGET, "Notes"])
    frame, stats = read_students_csv(_csv(header, "20,Male,Arts,3.1,7.0,2.0,1.0,5,3,False,hi"))
    assert list(frame.columns) == [*FEATURE_NAMES, TARGET]
    assert stats.rows_kept == 1 and ID_COLUMN not in stats.missing


def test_it_strips_a_bom_and_padded_header_names():
    header = "\ufeff" + ", ".join(COLUMNS)
    data = io.BytesIO((header + "\n1,20,Male,Arts,3.1,7.0,2.0,1.0,5,3,False\n").encode("utf-8"))
    frame, _ = read_students_csv(data)
    assert list(frame.columns) == list(COLUMNS)


def test_it_names_the_missing_columns_in_the_error():
    header = ",".join(c for c in COLUMNS if c not in ("CGPA", TARGET))
    with pytest.raises(ValueError, match=r"CGPA, Depression"):
        read_students_csv(_csv(header, "1,20,Male,Arts,7.0,2.0,1.0,5,3"))


def test_it_rejects_an_empty_file():
    with pytest.raises(ValueError, match="empty"):
        read_students_csv(io.StringIO(""))


def test_it_reports_stats_as_a_dataclass():
    _, stats = read_students_csv(_csv(HEADER))
    assert stats == ImportStats(
        rows_read=0, rows_kept=0, skipped={}, missing=dict.fromkeys(stats.missing, 0)
    )
