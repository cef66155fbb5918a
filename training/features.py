"""The one definition of MindPulse's nine input features.

Pure Python: no Django imports. The data generator, the importer, the training
pipeline, the validators of the form / API / batch scorer and the monitoring
reports all read their column names, kinds and ranges from here.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET = "Depression"
ID_COLUMN = "Student_ID"

GENDERS = ("Male", "Female")
DEPARTMENTS = ("Arts", "Business", "Engineering", "Medical", "Science")


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "int", "float" or "category"
    minimum: float | None = None  # plausible range, not the training range
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    decimals: int | None = None  # how the dataset writes the value


FEATURES: tuple[Feature, ...] = (
    Feature("Age", "int", 15, 100, unit="years"),
    Feature("Gender", "category", choices=GENDERS),
    Feature("Department", "category", choices=DEPARTMENTS),
    Feature("CGPA", "float", 0, 4, unit="0–4 scale", decimals=2),
    Feature("Sleep_Duration", "float", 0, 24, unit="hours per night", decimals=1),
    Feature("Study_Hours", "float", 0, 24, unit="hours per day", decimals=1),
    Feature("Social_Media_Hours", "float", 0, 24, unit="hours per day", decimals=1),
    Feature("Physical_Activity", "int", 0, 1440, unit="minutes per day"),
    Feature("Stress_Level", "int", 1, 10, unit="1 (low) – 10 (high)"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind == "category")
NUMERIC_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.kind != "category")
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
# The model field of each feature (StudentRecord, Prediction): the name in lower case.
FIELD_OF: dict[str, str] = {name: name.lower() for name in FEATURE_NAMES}

# Hours of the day that the three time-use answers share.
# One plausible student, inside the training ranges of the generated data: the API docs'
# example and the tests' sample answers.
EXAMPLE_STUDENT = {
    "Age": 21,
    "Gender": "Female",
    "Department": "Science",
    "CGPA": 3.1,
    "Sleep_Duration": 6.5,
    "Study_Hours": 4.0,
    "Social_Media_Hours": 3.0,
    "Physical_Activity": 45,
    "Stress_Level": 6,
}

DAY_HOURS_FEATURES = ("Sleep_Duration", "Study_Hours", "Social_Media_Hours")
MAX_DAY_HOURS = 24.0
