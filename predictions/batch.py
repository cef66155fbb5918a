"""Batch scoring: many rows validated one by one, then answered with ONE model call.

Used by `POST /api/predict/batch` (a JSON list, or a CSV file) and by the batch page
(a CSV in, a summary and the same CSV with `probability`, `prediction` and `error` columns
out): both read a CSV with `score_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from training.features import FEATURE_NAMES, ID_COLUMN

from . import services
from .models import Prediction
from .validation import NON_FIELD, validate_features

MAX_ROWS = 10_000
# The dataset has 11 columns; a header far wider is refused before any parsing, because every
# row would be padded to it (a header of a million commas costs seconds per row otherwise).
MAX_COLUMNS = 100
OUTPUT_COLUMNS = ("probability", "prediction", "error")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BatchError(ValueError):
    """The batch as a whole is unusable (not a CSV, no rows, too many rows, missing columns)."""


@dataclass
class RowResult:
    index: int
    prediction: Prediction | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class BatchOutcome:
    results: list[RowResult]
    version: int
    threshold: float

    @property
    def scored(self) -> int:
        return sum(1 for result in self.results if result.prediction is not None)

    @property
    def positives(self) -> int:
        """Scored rows the model puts at risk (at the version's threshold)."""
        return sum(1 for r in self.results if r.prediction is not None and r.prediction.label)

    @property
    def refused(self) -> list[RowResult]:
        return [result for result in self.results if result.prediction is None]


def score_csv(data: bytes) -> tuple[list[str], list[dict[str, str]], BatchOutcome]:
    """A CSV upload (the page's and the API's): its header, its rows and their scores; the
    columns other than the nine features are carried, not validated."""
    header, rows = read_csv(data)
    return header, rows, score_rows([features_only(row) for row in rows], ignore_unknown=True)


def template_csv() -> str:
    """The header a batch file needs (the id column is optional, kept as it is)."""
    return ",".join([ID_COLUMN, *FEATURE_NAMES]) + "\n"


def score_rows(rows: Sequence[Any], *, ignore_unknown: bool) -> BatchOutcome:
    """Validate each row; score the valid ones together and store them (channel batch).

    Raises BatchError for more than MAX_ROWS rows, services.ModelUnavailable without a model.
    """
    if len(rows) > MAX_ROWS:
        raise BatchError(
            _("A batch holds at most %(max)s rows; this one has %(count)s.")
            % {"max": MAX_ROWS, "count": len(rows)}
        )
    loaded = services.active_model()
    results, valid = [], []
    for index, row in enumerate(rows):
        clean, errors = validate_features(row, ignore_unknown=ignore_unknown, allow_long_day=True)
        results.append(RowResult(index=index, errors=errors))
        if not errors:
            valid.append((index, clean))
    stored = services.prediction_create_many([clean for _i, clean in valid], loaded=loaded)
    for (index, _clean), prediction in zip(valid, stored, strict=True):
        results[index].prediction = prediction
    return BatchOutcome(results=results, version=loaded.version, threshold=loaded.threshold)


def read_csv(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a CSV in the dataset's schema (extra columns are kept)."""
    first_line = data[: data.find(b"\n")] if b"\n" in data else data
    if first_line.count(b",") >= MAX_COLUMNS:
        raise BatchError(
            _("The first line has more than %(max)s columns: this is not the dataset's schema.")
            % {"max": MAX_COLUMNS}
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BatchError(_("The file is not UTF-8 text: save it as CSV (UTF-8).")) from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise BatchError(_("The file is empty."))
        missing = [name for name in FEATURE_NAMES if name not in header]
        if missing:
            raise BatchError(
                _("Missing columns: %(columns)s. The first line must name the dataset's columns.")
                % {"columns": ", ".join(missing)}
            )
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, e.g. at the end of the file
            if len(rows) == MAX_ROWS:
                raise BatchError(_("A batch holds at most %(max)s rows.") % {"max": MAX_ROWS})
            padded = cells + [""] * (len(header) - len(cells))
            rows.append(dict(zip(header, padded, strict=False)))
    except csv.Error as exc:
        raise BatchError(_("The file is not a valid CSV: %(error)s") % {"error": exc}) from None
    if not rows:
        raise BatchError(_("The file has a header but no rows."))
    return header, rows


def features_only(row: dict[str, str]) -> dict[str, str]:
    """The nine feature cells of a CSV row: the other columns are carried, not validated."""
    return {name: row[name] for name in FEATURE_NAMES if name in row}


def write_csv(header: list[str], rows: list[dict[str, str]], results: list[RowResult]) -> str:
    """The uploaded rows, unchanged but neutralised, plus probability / prediction / error."""
    out = io.StringIO()
    columns = [name for name in header if name not in OUTPUT_COLUMNS]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_neutralise(name) for name in [*columns, *OUTPUT_COLUMNS]])
    for row, result in zip(rows, results, strict=True):
        cells = [_neutralise(row.get(name, "")) for name in columns]
        if result.prediction is not None:
            cells += [f"{result.prediction.probability:.6f}", int(result.prediction.label), ""]
        else:
            cells += ["", "", _neutralise(error_text(result.errors))]
        writer.writerow(cells)
    return out.getvalue()


def error_text(errors: dict[str, list[str]]) -> str:
    parts = []
    for name, messages in errors.items():
        text = " ".join(messages)
        parts.append(text if name == NON_FIELD else f"{name}: {text}")
    return "; ".join(parts)


def _neutralise(cell: str) -> str:
    """Prefix text cells that a spreadsheet would run as a formula with a quote.

    Numbers are left alone (so "-3.5" stays a number); anything else starting with one of
    = + - @ TAB CR gets a leading apostrophe, as OWASP recommends for CSV injection.
    """
    cell = str(cell)
    if not cell.startswith(_FORMULA_START):
        return cell
    try:
        float(cell)
    except ValueError:
        return "'" + cell
    return cell
