"""Synthetic student rows shaped like the Kaggle "student_lifestyle_100k" dataset, plus the
CSV writer and the tolerant CSV reader used to import real files.

Pure Python: no Django imports.

The generator was calibrated against the statistics in ../shared/data/README.md (and the
shape of the sample's histograms); no real row is copied. What the real data shows, and the
generator reproduces:

* Age, Gender, Department, Physical_Activity: independent uniform-ish draws.
* CGPA: flat between 2.0 and 3.8 with thin tails down to ~1.7 and up to 4.0, where the
  values above 4.0 pile up (mean 2.906, std 0.537). A clipped normal with that mean and std
  would put ~2 % of rows at 4.00 and ~1 % at a 1.70 floor; the real file has 0.5 % and none.
* Sleep/Study/Social hours: clipped normals, hence the pile-ups at 3.0 h / 0.0 h.
* Stress_Level: a uniform 2–5 base, +1 when Physical_Activity < 60, +2 or +3 when sleep
  is under 5 h, rarely +1 more. That gives r ≈ -0.28 with sleep and r ≈ -0.30 with activity.
* Depression: a logistic model on three steps (CGPA < 2.5, Stress_Level >= 8,
  Sleep_Duration < 5) plus a mild linear stress term. Prevalence is ~10.3 %. CGPA alone
  gives an AUC of ~0.33, and a plain logistic regression on all features reaches ~0.68.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from training.features import (
    BY_NAME,
    CATEGORICAL_FEATURES,
    DEPARTMENTS,
    FEATURE_NAMES,
    ID_COLUMN,
    NUMERIC_FEATURES,
    TARGET,
)

COLUMNS: tuple[str, ...] = (ID_COLUMN, *FEATURE_NAMES, TARGET)
FIRST_STUDENT_ID = 1001

# Calibration constants (see the module docstring).
FEMALE_SHARE = 0.513
CGPA_CORE = (2.0, 3.8)  # where almost all CGPAs sit, uniformly
CGPA_TAIL = (1.7, 4.12)  # the thin wider component; its part above 4.0 piles up at 4.00
CGPA_TAIL_SHARE = 0.10
SLEEP = (7.0, 1.5, 3.0, 12.0)  # mean, std, min, max
STUDY = (4.5, 2.0)
SOCIAL = (3.5, 1.5)
LOW_ACTIVITY_MINUTES = 60
SHORT_SLEEP_HOURS = 5.0
STRESS_NOISE_RATE = 0.003
# Logistic model of Depression. The coefficients were fitted on the README's step features.
LOGIT_INTERCEPT = -3.17
LOGIT_LOW_CGPA = 1.50  # CGPA < 2.5
LOGIT_HIGH_STRESS = 1.35  # Stress_Level >= 8
LOGIT_STRESS = 0.073  # per stress point: the mild 2 -> 6 gradient of the real rates
LOGIT_SHORT_SLEEP = 0.30  # Sleep_Duration < 5
LOW_CGPA = 2.5
HIGH_STRESS = 8

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})
# Physical_Activity is left out: it stays float64 because the real file has blanks in it.
_WHOLE_NUMBER_COLUMNS = (ID_COLUMN, "Age", "Stress_Level")


def generate_students(rows: int, seed: int, *, blank_rate: float = 1 / 7500) -> pd.DataFrame:
    """Return `rows` synthetic students. The same seed always gives the same frame.

    Physical_Activity is always float64, because a cell is blank (NaN) with probability
    `blank_rate` ("the odd blank cell" of the real file). The blanks are drawn last, so
    changing blank_rate changes nothing else.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 <= blank_rate <= 1.0:
        raise ValueError(f"blank_rate must be in [0, 1], got {blank_rate}")
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 25, rows)
    gender = np.where(rng.random(rows) < FEMALE_SHARE, "Female", "Male").astype(object)
    department = np.asarray(DEPARTMENTS, dtype=object)[rng.integers(0, len(DEPARTMENTS), rows)]
    cgpa = _cgpa(rng, rows)
    sleep = _hours(rng, rows, SLEEP[0], SLEEP[1], low=SLEEP[2], high=SLEEP[3])
    study = _hours(rng, rows, *STUDY)
    social = _hours(rng, rows, *SOCIAL)
    activity = rng.integers(0, 150, rows)
    stress = _stress(rng, sleep, activity)
    depression = _depression(rng, cgpa, stress, sleep)
    blank = rng.random(rows) < blank_rate

    return pd.DataFrame(
        {
            ID_COLUMN: np.arange(FIRST_STUDENT_ID, FIRST_STUDENT_ID + rows, dtype=np.int64),
            "Age": age.astype(np.int64),
            "Gender": gender,
            "Department": department,
            "CGPA": cgpa,
            "Sleep_Duration": sleep,
            "Study_Hours": study,
            "Social_Media_Hours": social,
            "Physical_Activity": np.where(blank, np.nan, activity.astype(np.float64)),
            "Stress_Level": stress.astype(np.int64),
            TARGET: depression,
        },
        columns=list(COLUMNS),
    )


def _cgpa(rng: np.random.Generator, rows: int) -> np.ndarray:
    core = rng.uniform(*CGPA_CORE, rows)
    tail = rng.uniform(*CGPA_TAIL, rows)
    value = np.where(rng.random(rows) < CGPA_TAIL_SHARE, tail, core)
    # Clipping at 4.0 makes the pile-up at 4.00 that the real file shows.
    return np.round(np.minimum(value, 4.0), 2)


def _hours(
    rng: np.random.Generator,
    rows: int,
    mean: float,
    std: float,
    *,
    low: float = 0.0,
    high: float = 24.0,
) -> np.ndarray:
    # Clip before rounding so that a clipped value is never written as "-0.0".
    return np.round(np.clip(rng.normal(mean, std, rows), low, high), 1)


def _stress(rng: np.random.Generator, sleep: np.ndarray, activity: np.ndarray) -> np.ndarray:
    rows = len(sleep)
    base = rng.integers(2, 6, rows)
    short_sleep = sleep < SHORT_SLEEP_HOURS
    sleep_bump = short_sleep * (2 + rng.integers(0, 2, rows))
    noise = rng.random(rows) < STRESS_NOISE_RATE
    stress = base + (activity < LOW_ACTIVITY_MINUTES) + sleep_bump + noise
    return np.clip(stress, 1, 10)


def _depression(
    rng: np.random.Generator, cgpa: np.ndarray, stress: np.ndarray, sleep: np.ndarray
) -> np.ndarray:
    logit = (
        LOGIT_INTERCEPT
        + LOGIT_LOW_CGPA * (cgpa < LOW_CGPA)
        + LOGIT_HIGH_STRESS * (stress >= HIGH_STRESS)
        + LOGIT_STRESS * stress
        + LOGIT_SHORT_SLEEP * (sleep < SHORT_SLEEP_HOURS)
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    return rng.random(len(cgpa)) < probability


def write_csv(df: pd.DataFrame, path: str | Path | IO[str]) -> None:
    """Write `df` the way the Kaggle file is written.

    Floats are written at the precision the dataset uses, in the shortest form ("3.5", "6.0",
    "2.72"), exactly as the Kaggle file does. Ints are written as ints, blanks as empty cells,
    the label as True/False, and lines end with LF. Student_ID is written only if present.
    """
    columns = [c for c in COLUMNS if c in df.columns]
    out = df.loc[:, columns].copy()
    for name in NUMERIC_FEATURES:
        decimals = BY_NAME[name].decimals
        if BY_NAME[name].kind == "int":
            out[name] = out[name].round().astype("Int64")  # Int64 writes NaN as ""
        elif decimals is not None:
            out[name] = out[name].astype(np.float64).round(decimals)
    if ID_COLUMN in out.columns:
        out[ID_COLUMN] = out[ID_COLUMN].astype("Int64")
    out[TARGET] = out[TARGET].astype(bool)
    out.to_csv(path, index=False, lineterminator="\n", na_rep="")


@dataclass
class ImportStats:
    rows_read: int = 0
    rows_kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    missing: dict[str, int] = field(default_factory=dict)  # numeric column -> blank cells kept

    @property
    def rows_skipped(self) -> int:
        return self.rows_read - self.rows_kept


def read_students_csv(path_or_buffer: str | Path | IO) -> tuple[pd.DataFrame, ImportStats]:
    """Read a possibly messy student CSV and return (clean frame, ImportStats).

    * All cells are read as text and stripped. Header names are stripped as well, along with
      a UTF-8 BOM.
    * A numeric cell that is blank, non-numeric or non-finite becomes NaN, and the row is
      kept, because the pipeline imputes it. `stats.missing` counts such cells per column
      among the kept rows.
    * Gender and Department are matched without regard to case and written back in their
      canonical spelling. A row whose category is missing or unknown, or whose label is
      missing or unreadable, is skipped. Each skipped row counts once, under its first
      problem in the order gender, department, label.
    * Columns that are not needed are dropped. Student_ID is optional.
    * Dtypes match generate_students(). The one exception: an int column that has a blank
      stays float64.
    """
    try:
        raw = pd.read_csv(path_or_buffer, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise ValueError("the CSV file is empty (no header line)") from exc
    except pd.errors.ParserError as exc:
        raise ValueError(f"the CSV file is malformed: {exc}") from exc

    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    required = [*FEATURE_NAMES, TARGET]
    absent = [c for c in required if c not in raw.columns]
    if absent:
        raise ValueError(
            f"the CSV file lacks required column(s): {', '.join(absent)} "
            f"(expected {', '.join(required)}; {ID_COLUMN} is optional)"
        )
    columns = [c for c in COLUMNS if c in raw.columns]
    text = raw.loc[:, columns].fillna("").apply(lambda s: s.str.strip())

    out = pd.DataFrame(index=text.index)
    for name in columns:
        if name in CATEGORICAL_FEATURES:
            out[name] = _canonical(text[name], BY_NAME[name].choices)
        elif name == TARGET:
            out[name] = _parse_label(text[name])
        else:
            out[name] = _to_number(text[name])

    reason = _skip_reason(text, out)
    keep = reason.isna()
    out = out.loc[keep].reset_index(drop=True)
    out[TARGET] = out[TARGET].astype(bool)
    for name in _WHOLE_NUMBER_COLUMNS:
        if name in out.columns:
            out[name] = _int_if_whole(out[name])

    numeric = [c for c in columns if c == ID_COLUMN or c in NUMERIC_FEATURES]
    stats = ImportStats(
        rows_read=len(text),
        rows_kept=len(out),
        skipped={str(k): int(v) for k, v in reason.value_counts().sort_index().items()},
        missing={name: int(out[name].isna().sum()) for name in numeric},
    )
    return out, stats


def _canonical(values: pd.Series, choices: tuple[str, ...]) -> pd.Series:
    lookup = {choice.lower(): choice for choice in choices}
    return values.str.lower().map(lookup)  # unknown or blank -> NaN


def _parse_label(values: pd.Series) -> pd.Series:
    lowered = values.str.lower()
    lookup = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
    return lowered.map(lookup)  # object dtype: True / False / NaN


def _to_number(values: pd.Series) -> pd.Series:
    number = pd.to_numeric(values, errors="coerce").astype(np.float64)
    # "inf" or "1e999" parse as numbers, but no student answers that; treat them as blanks.
    return number.where(np.isfinite(number))


def _skip_reason(text: pd.DataFrame, parsed: pd.DataFrame) -> pd.Series:
    checks = []
    for name, label in (("Gender", "gender"), ("Department", "department"), (TARGET, "label")):
        blank = text[name] == ""
        checks.append((blank, f"missing_{label}"))
        invalid_word = "invalid" if name == TARGET else "unknown"
        checks.append((parsed[name].isna() & ~blank, f"{invalid_word}_{label}"))
    conditions = [condition.to_numpy() for condition, _ in checks]
    reasons = [reason for _, reason in checks]
    chosen = np.select(conditions, reasons, default="")
    reason = pd.Series(chosen, index=text.index, dtype=object)
    return reason.where(reason != "", None)


def _int_if_whole(values: pd.Series) -> pd.Series:
    finite = values.dropna()
    if len(finite) == len(values) and bool((finite == np.round(finite)).all()):
        return values.astype(np.int64)
    return values
