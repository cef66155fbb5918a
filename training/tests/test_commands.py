import io

import pytest
from django.core.management import CommandError, call_command

from training import datagen
from training.models import DatasetImport, ModelVersion, StudentRecord

pytestmark = pytest.mark.django_db


def _messy_csv(path):
    """A generated file with the problems real files have."""
    frame = datagen.generate_students(200, seed=3)
    buffer = io.StringIO()
    datagen.write_csv(frame, buffer)
    lines = buffer.getvalue().splitlines()
    header = lines[0].split(",")
    pa, gender, label = (header.index(c) for c in ("Physical_Activity", "Gender", "Depression"))

    def edit(i, column, value):
        cells = lines[i].split(",")
        cells[column] = value
        lines[i] = ",".join(cells)

    edit(1, pa, " ")  # a blank cell, as in the real file
    edit(2, pa, "lots")  # non-numeric
    edit(3, gender, "female")  # case differs: kept, canonicalised
    edit(4, gender, "Robot")  # unknown category: skipped
    edit(5, label, "")  # no label: skipped
    path.write_text("\n".join(lines) + "\n")
    return path


def test_it_imports_a_messy_csv_and_counts_what_it_fixed(tmp_path):
    path = _messy_csv(tmp_path / "students.csv")
    out = io.StringIO()
    call_command("import_students", str(path), stdout=out)
    assert StudentRecord.objects.count() == 198
    dataset = DatasetImport.objects.get()
    assert dataset.rows_read == 200 and dataset.rows_added == 198
    assert sum(dataset.skipped.values()) == 2
    assert dataset.missing["Physical_Activity"] >= 2
    assert StudentRecord.objects.filter(physical_activity__isnull=True).count() >= 2
    assert not StudentRecord.objects.exclude(gender__in=["Male", "Female"]).exists()
    assert "Imported 198 of 200 rows" in out.getvalue()


def test_it_adds_nothing_when_the_same_file_is_imported_again(tmp_path):
    path = _messy_csv(tmp_path / "students.csv")
    call_command("import_students", str(path), verbosity=0)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())
    out = io.StringIO()
    call_command("import_students", str(copy), stdout=out)
    assert StudentRecord.objects.count() == 198
    assert "nothing added" in out.getvalue()


def test_it_refuses_a_file_without_the_required_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Student_ID,Age,Gender\n1,20,Male\n")
    with pytest.raises(CommandError, match="CGPA"):
        call_command("import_students", str(path), verbosity=0)
    assert not DatasetImport.objects.exists()


def test_it_reports_a_missing_file():
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_students", "/nonexistent/students.csv", verbosity=0)


def test_it_generates_the_same_file_for_the_same_seed(tmp_path):
    call_command("generate_students", rows=500, seed=5, out=str(tmp_path / "a.csv"), verbosity=0)
    call_command("generate_students", rows=500, seed=5, out=str(tmp_path / "b.csv"), verbosity=0)
    call_command("generate_students", rows=500, seed=6, out=str(tmp_path / "c.csv"), verbosity=0)
    a, b, c = ((tmp_path / f"{n}.csv").read_bytes() for n in "abc")
    assert a == b and a != c
    assert a.splitlines()[0] == (
        b"Student_ID,Age,Gender,Department,CGPA,Sleep_Duration,Study_Hours,"
        b"Social_Media_Hours,Physical_Activity,Stress_Level,Depression"
    )


def test_it_loads_generated_rows_once():
    call_command("generate_students", rows=300, seed=5, verbosity=0)
    call_command("generate_students", rows=300, seed=5, verbosity=0)
    assert StudentRecord.objects.count() == 300


def test_it_trains_and_activates_a_first_model(reference_data, settings):
    out = io.StringIO()
    call_command("train", stdout=out)
    version = ModelVersion.objects.get()
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.version == 1
    assert {c["algorithm"] for c in version.candidates} == {
        "logistic_regression",
        "random_forest",
        "xgboost",
    }
    # The winner is chosen on the validation split; the test split stays unbiased.
    winner = max(version.candidates, key=lambda c: c["validation"]["roc_auc"])
    assert version.algorithm == winner["algorithm"] and winner["winner"]
    assert version.metrics == winner["test"]
    assert 0 < version.threshold < 1
    assert version.train_rows == 3000
    assert (settings.ARTIFACTS_DIR / version.artifact_path).exists()
    assert (settings.ARTIFACTS_DIR / version.reference_path).exists()
    for algorithm in ("logistic_regression", "random_forest", "xgboost"):
        assert algorithm in out.getvalue()


def test_it_refuses_to_train_without_data():
    with pytest.raises(CommandError, match="reference dataset is empty"):
        call_command("train", verbosity=0)
