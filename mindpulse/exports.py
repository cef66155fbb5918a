"""CSV exports for analysis outside MindPulse: the reference data and the production data.

Both files are streamed (a server-side cursor on Postgres, `.iterator(chunk_size=...)`) and
written to a temporary file that replaces the final one only when complete: a reader never
sees half a file, and memory stays flat whatever the table size.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from predictions.models import Prediction
from training.features import FEATURE_NAMES, ID_COLUMN, TARGET
from training.models import StudentRecord
from training.selectors import FIELD_OF

CHUNK_SIZE = 2000
REF_FILE = "ref_data.csv"
PROD_FILE = "prod_data.csv"

REF_HEADER = (ID_COLUMN, *FEATURE_NAMES, TARGET)
PROD_HEADER = (
    "prediction_id",
    "created_at",
    "channel",
    "model_version",
    *FEATURE_NAMES,
    "probability",
    "prediction",
    "threshold",
    TARGET,  # the actual outcome from the feedback (True/False), empty when unknown
    "feedback_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_data(out_dir: str | Path) -> dict[str, int]:
    """Write ref_data.csv and prod_data.csv into `out_dir`; returns the rows of each."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return {
        REF_FILE: write_csv_atomic(directory / REF_FILE, REF_HEADER, reference_rows()),
        PROD_FILE: write_csv_atomic(directory / PROD_FILE, PROD_HEADER, production_rows()),
    }


def reference_rows() -> Iterable[tuple]:
    """The reference dataset in the Kaggle schema (Depression as True/False), by id."""
    fields = ["student_id", *(FIELD_OF[name] for name in FEATURE_NAMES), "depression"]
    rows = StudentRecord.objects.order_by("pk").values_list(*fields)
    yield from rows.iterator(chunk_size=CHUNK_SIZE)


def production_rows() -> Iterable[tuple]:
    """Every prediction, oldest first, with its feedback's outcome and time when it has one."""
    fields = [
        "id",
        "created_at",
        "channel",
        "model_version__version",
        *(FIELD_OF[name] for name in FEATURE_NAMES),
        "probability",
        "label",
        "threshold",
        "feedback__actual",
        "feedback__created_at",
    ]
    rows = Prediction.objects.order_by("created_at", "pk").values_list(*fields)
    for stored in rows.iterator(chunk_size=CHUNK_SIZE):
        row = list(stored)
        row[-4] = int(row[-4])  # the predicted label, as 0/1 like the API's "prediction"
        yield row


def cell(value) -> str | int | float:
    """A CSV cell: numbers and booleans as they are, text neutralised against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write the rows to a temporary file next to `path`, fsync it, then rename it into place."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed or deleted
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False, newline=""
    )
    count = 0
    try:
        with handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow([cell(value) for value in row])
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return count
