"""The simulated students and their outcomes, per scenario. Pure (numpy, pandas): no Django.

Traffic comes from the generator (training.datagen), whose relation between features and
label is known: a logistic model on three steps (CGPA < 2.5, Stress_Level >= 8, sleep < 5 h)
plus a mild stress slope. The outcome of a simulated student is drawn from that relation (or
from the changed one of a scenario), never copied from any real row.

Scenarios change the traffic from day `shift_day` on:

* stable: nothing changes;
* covariate_shift: Sleep_Duration -2 h and Stress_Level +3 (clipped to the valid ranges),
  outcomes drawn from the SAME relation;
* concept_shift: the features keep their distribution, the relation changes: CGPA no longer
  protects (its step is gone) and stress weighs double, the intercept moved so that the share
  of depressed students stays the same;
* prevalence_shift: the share of depressed students doubles (positives oversampled, so each
  class keeps its own feature distribution);
* feedback_burst: on `shift_day`, 5,000 labelled predictions arrive within one hour;
* poisoning: from `shift_day`, one client posts flipped labels through the public endpoint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from training import datagen
from training.features import BY_NAME, FEATURE_NAMES, TARGET

SCENARIOS = (
    "stable",
    "covariate_shift",
    "concept_shift",
    "prevalence_shift",
    "feedback_burst",
    "poisoning",
)
BURST_ROWS = 5000
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC: the first simulated day
CONCEPT_SAMPLE_ROWS = 50000  # students behind the concept shift's prevalence offset


@dataclass(frozen=True)
class Scenario:
    name: str
    shift_day: int

    def shifted(self, day: int) -> bool:
        return self.name != "stable" and day >= self.shift_day


def logit(frame: pd.DataFrame, *, concept: bool = False, offset: float | None = None) -> np.ndarray:
    """The generator's relation (training.datagen), or the concept-shifted one."""
    stress = frame["Stress_Level"].to_numpy(dtype=float)
    low_cgpa = frame["CGPA"].to_numpy(dtype=float) < datagen.LOW_CGPA
    short_sleep = frame["Sleep_Duration"].to_numpy(dtype=float) < datagen.SHORT_SLEEP_HOURS
    weight = 2.0 if concept else 1.0
    value = (
        datagen.LOGIT_INTERCEPT
        + (0.0 if concept else datagen.LOGIT_LOW_CGPA) * low_cgpa
        + weight * datagen.LOGIT_HIGH_STRESS * (stress >= datagen.HIGH_STRESS)
        + weight * datagen.LOGIT_STRESS * stress
        + datagen.LOGIT_SHORT_SLEEP * short_sleep
    )
    if concept:  # keep the prevalence of the original relation: only the relation changes
        value = value + (_concept_offset() if offset is None else offset)
    return value


@functools.cache
def _concept_offset() -> float:
    """The intercept change that keeps the mean probability of the concept-shifted relation
    equal to the original's, on a fixed sample of generated students (without it, losing the
    CGPA step halved the share of depressed students)."""
    frame = students(CONCEPT_SAMPLE_ROWS, np.random.default_rng(0))
    target = float(np.mean(_sigmoid(logit(frame))))
    shifted = logit(frame, concept=True, offset=0.0)
    low, high = -5.0, 5.0
    for _ in range(60):  # bisection: the mean probability grows with the offset
        middle = (low + high) / 2
        low, high = (
            (middle, high) if np.mean(_sigmoid(shifted + middle)) < target else (low, middle)
        )
    return (low + high) / 2


def _sigmoid(value: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-value))


def students(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`rows` generated students, every cell answered (the form and the API require it)."""
    seed = int(rng.integers(0, 2**31 - 1))
    frame = datagen.generate_students(rows, seed, blank_rate=0.0)
    frame = frame.loc[:, [*FEATURE_NAMES, TARGET]].copy()
    for name in ("Age", "Physical_Activity", "Stress_Level"):
        frame[name] = frame[name].astype(int)
    return frame.reset_index(drop=True)


def traffic(scenario: Scenario, day: int, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """The day's students with their true outcome (column Depression), in arrival order."""
    if rows <= 0:
        return students(0, rng)
    shifted = scenario.shifted(day)
    if shifted and scenario.name == "prevalence_shift":
        return _prevalence_doubled(rows, rng)
    frame = students(rows, rng)
    if shifted and scenario.name == "covariate_shift":
        sleep = BY_NAME["Sleep_Duration"]
        stress = BY_NAME["Stress_Level"]
        frame["Sleep_Duration"] = (frame["Sleep_Duration"] - 2.0).clip(sleep.minimum, sleep.maximum)
        frame["Stress_Level"] = (frame["Stress_Level"] + 3).clip(stress.minimum, stress.maximum)
        frame[TARGET] = _draw(logit(frame), rng)
    elif shifted and scenario.name == "concept_shift":
        frame[TARGET] = _draw(logit(frame, concept=True), rng)
    return frame


def _draw(value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.random(len(value)) < _sigmoid(value)


def _prevalence_doubled(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Twice the base share of positives, each class drawn from its own distribution."""
    pool = students(rows * 4, rng)
    base = float(pool[TARGET].mean())
    target = min(2 * base, 0.9)
    positives, negatives = pool[pool[TARGET]], pool[~pool[TARGET]]
    n_pos = min(len(positives), int(rng.binomial(rows, target)))
    chosen = pd.concat(
        [
            positives.sample(n_pos, random_state=int(rng.integers(0, 2**31 - 1))),
            negatives.sample(rows - n_pos, random_state=int(rng.integers(0, 2**31 - 1))),
        ]
    )
    return chosen.sample(frac=1.0, random_state=int(rng.integers(0, 2**31 - 1))).reset_index(
        drop=True
    )
