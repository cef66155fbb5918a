"""manage.py export_data: ref_data.csv and prod_data.csv match the database row for row."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest
from django.core.management import call_command

from mindpulse import exports
from predictions.models import Prediction
from training.features import FEATURE_NAMES, ID_COLUMN, NUMERIC_FEATURES, TARGET
from training.models import StudentRecord
from training.selectors import FIELD_OF

pytestmark = pytest.mark.django_db

FEATURES = {
    "Age": 21,
    "Gender": "Female",
    "Department": "Science",
    "CGPA": 3.1415,
    "Sleep_Duration": 6.5,
    "Study_Hours": 4.0,
    "Social_Media_Hours": 3.0,
    "Physical_Activity": 45,
    "Stress_Level": 6,
}


def read(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str):
    return None if text == "" else float(text)


def test_it_exports_the_reference_data_in_the_kaggle_schema(tmp_path, reference_data):
    # Real files have blank cells: exported blank, not "None".
    blank = StudentRecord.objects.order_by("pk")[5]
    StudentRecord.objects.filter(pk=blank.pk).update(cgpa=None, physical_activity=None)
    call_command("export_data", out=tmp_path, verbosity=0)
    rows = read(tmp_path / "ref_data.csv")
    assert list(rows[0]) == [ID_COLUMN, *FEATURE_NAMES, TARGET]
    records = list(StudentRecord.objects.order_by("pk"))
    assert len(rows) == len(records) == 3000
    for row, record in zip(rows, records, strict=True):
        assert number(row[ID_COLUMN]) == record.student_id
        for name in FEATURE_NAMES:
            value = getattr(record, FIELD_OF[name])
            assert (number(row[name]) if name in NUMERIC_FEATURES else row[name]) == value
        assert row[TARGET] == str(record.depression)
    assert (rows[5]["CGPA"], rows[5]["Physical_Activity"]) == ("", "")
    assert not any("None" in row.values() for row in rows)


def test_it_exports_every_prediction_with_its_outcome_when_known(tmp_path, active_model):
    from predictions.services import feedback_create, prediction_create_many

    stored = prediction_create_many(
        [FEATURES, dict(FEATURES, Age=40, Gender="Male"), dict(FEATURES, Stress_Level=10)]
    )
    feedback_create(prediction_id=stored[0].pk, actual=True)
    feedback_create(prediction_id=stored[2].pk, actual=False)

    counts = exports.export_data(tmp_path)
    rows = read(tmp_path / "prod_data.csv")
    assert counts == {"ref_data.csv": 0, "prod_data.csv": 3}
    assert list(rows[0]) == list(exports.PROD_HEADER)
    predictions = Prediction.objects.select_related("feedback", "model_version").order_by(
        "created_at", "pk"
    )
    for row, prediction in zip(rows, predictions, strict=True):
        assert row["prediction_id"] == str(prediction.pk)
        assert datetime.fromisoformat(row["created_at"]) == prediction.created_at
        assert row["channel"] == prediction.channel == "batch"
        assert int(row["model_version"]) == prediction.model_version.version
        for name in FEATURE_NAMES:
            value = getattr(prediction, FIELD_OF[name])
            assert (number(row[name]) if name in NUMERIC_FEATURES else row[name]) == value
        assert float(row["probability"]) == prediction.probability  # exact round trip
        assert int(row["prediction"]) == int(prediction.label)
        assert float(row["threshold"]) == prediction.threshold
        feedback = getattr(prediction, "feedback", None)
        if feedback is None:
            assert row[TARGET] == "" and row["feedback_at"] == ""
        else:
            assert row[TARGET] == str(feedback.actual)
            assert datetime.fromisoformat(row["feedback_at"]) == feedback.created_at
    assert "3.1415" in (tmp_path / "prod_data.csv").read_text()


def test_it_replaces_a_previous_export_atomically(tmp_path, reference_data):
    (tmp_path / "ref_data.csv").write_text("stale\n")
    exports.export_data(tmp_path)
    assert read(tmp_path / "ref_data.csv")[0][ID_COLUMN]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prod_data.csv", "ref_data.csv"]


def test_it_leaves_no_partial_file_when_writing_fails(tmp_path):
    def rows():
        yield (1, 2)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        exports.write_csv_atomic(tmp_path / "out.csv", ("a", "b"), rows())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Science", "Science"),
        (-2.5, -2.5),
        (None, ""),
        (True, True),
    ],
)
def test_it_neutralises_text_cells_that_a_spreadsheet_would_run(value, written):
    assert exports.cell(value) == written
