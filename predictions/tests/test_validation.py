"""The validation table: every rule and every bad type, on the function all channels share."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from predictions.validation import NON_FIELD, validate_features
from training.features import FEATURE_NAMES


def _with(features, **changes):
    row = dict(features)
    for key, value in changes.items():
        if value is _DROP:
            row.pop(key)
        else:
            row[key] = value
    return row


_DROP = object()


def test_it_accepts_a_valid_row_and_types_it(features):
    clean, errors = validate_features(features)
    assert errors == {}
    assert clean == features
    assert isinstance(clean["Age"], int) and isinstance(clean["CGPA"], float)
    assert isinstance(clean["Study_Hours"], float)


def test_it_parses_numeric_strings_as_a_form_or_csv_sends_them(features):
    raw = {name: str(value) for name, value in features.items()}
    raw["CGPA"] = " 3.10 "
    raw["Physical_Activity"] = "45.0"
    clean, errors = validate_features(raw)
    assert errors == {}
    assert clean["Age"] == 21 and clean["CGPA"] == 3.1 and clean["Physical_Activity"] == 45
    assert isinstance(clean["Physical_Activity"], int)


def test_it_matches_categories_case_insensitively_and_stores_them_canonically(features):
    clean, errors = validate_features(_with(features, Gender="  fEMALE ", Department="engineering"))
    assert errors == {}
    assert clean["Gender"] == "Female" and clean["Department"] == "Engineering"


def test_it_accepts_decimal_numbers(features):
    clean, errors = validate_features(_with(features, CGPA=Decimal("3.25")))
    assert errors == {} and clean["CGPA"] == 3.25


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Age", 15),
        ("Age", 100),
        ("CGPA", 0),
        ("CGPA", 4),
        ("Sleep_Duration", 0),
        ("Study_Hours", 24),
        ("Physical_Activity", 0),
        ("Physical_Activity", 1440),
        ("Stress_Level", 1),
        ("Stress_Level", 10),
    ],
)
def test_it_accepts_the_bounds_of_each_plausible_range(features, field, value):
    row = _with(features, Sleep_Duration=0, Study_Hours=0, Social_Media_Hours=0)
    row[field] = value
    clean, errors = validate_features(row)
    assert errors == {}
    assert clean[field] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Age", 14),
        ("Age", 101),
        ("CGPA", -0.01),
        ("CGPA", 4.01),
        ("Sleep_Duration", -1),
        ("Sleep_Duration", 24.5),
        ("Study_Hours", 25),
        ("Social_Media_Hours", -0.1),
        ("Physical_Activity", -1),
        ("Physical_Activity", 1441),
        ("Stress_Level", 0),
        ("Stress_Level", 11),
    ],
)
def test_it_refuses_values_outside_the_plausible_range(features, field, value):
    clean, errors = validate_features(_with(features, **{field: value}))
    assert clean == {}
    assert list(errors) == [field]
    assert "between" in errors[field][0]


@pytest.mark.parametrize("field", ["Age", "Physical_Activity", "Stress_Level"])
def test_it_refuses_fractions_for_whole_number_features(features, field):
    _clean, errors = validate_features(_with(features, **{field: 5.5}))
    assert errors == {field: ["Enter a whole number."]}


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        float("nan"),
        float("inf"),
        -math.inf,
        "nan",
        "Infinity",
        "abc",
        "1_0",
        "0x10",
        "٢١",
        "21 years",
        [21],
        {"value": 21},
        10**400,
        "1e400",
    ],
    ids=repr,
)
@pytest.mark.parametrize("field", ["Age", "CGPA"])
def test_it_refuses_each_bad_type_for_a_number(features, field, value):
    clean, errors = validate_features(_with(features, **{field: value}))
    assert clean == {}
    assert list(errors) == [field]


@pytest.mark.parametrize("value", [1, True, ["Female"], {"x": 1}, "Other", "F"], ids=repr)
def test_it_refuses_unknown_or_mistyped_categories(features, value):
    _clean, errors = validate_features(_with(features, Gender=value))
    assert list(errors) == ["Gender"]
    assert "Male, Female" in errors["Gender"][0]


@pytest.mark.parametrize(
    "value", [_DROP, None, "", "   "], ids=["absent", "null", "empty", "blank"]
)
@pytest.mark.parametrize("field", FEATURE_NAMES)
def test_it_requires_every_feature(features, field, value):
    _clean, errors = validate_features(_with(features, **{field: value}))
    assert errors == {field: ["This field is required."]}


def test_it_reports_every_invalid_field_at_once(features):
    _clean, errors = validate_features(_with(features, Age=True, CGPA="x", Gender=_DROP))
    assert set(errors) == {"Age", "CGPA", "Gender"}


def test_it_refuses_a_day_of_more_than_24_hours_with_one_message(features):
    _clean, errors = validate_features(
        _with(features, Sleep_Duration=10, Study_Hours=10, Social_Media_Hours=4.5)
    )
    assert list(errors) == [NON_FIELD]
    assert "24.5" in errors[NON_FIELD][0] and "24" in errors[NON_FIELD][0]


def test_it_accepts_a_day_of_exactly_24_hours(features):
    _clean, errors = validate_features(
        _with(features, Sleep_Duration=10, Study_Hours=10, Social_Media_Hours=4)
    )
    assert errors == {}


def test_it_skips_the_sum_rule_while_an_hour_field_is_invalid(features):
    _clean, errors = validate_features(_with(features, Sleep_Duration=30, Study_Hours=20))
    assert list(errors) == ["Sleep_Duration"]


def test_it_ignores_student_id_and_depression(features):
    clean, errors = validate_features(_with(features, Student_ID=1001, Depression=True))
    assert errors == {}
    assert set(clean) == set(FEATURE_NAMES)


def test_it_refuses_unknown_fields_and_suggests_the_right_case(features):
    _clean, errors = validate_features(_with(features, Hobby="chess", stress_level=5))
    assert errors["Hobby"] == ["Unknown field."]
    assert errors["stress_level"] == ["Unknown field. Did you mean Stress_Level?"]


def test_it_ignores_unknown_fields_when_asked(features):
    _clean, errors = validate_features(_with(features, Hobby="chess"), ignore_unknown=True)
    assert errors == {}


@pytest.mark.parametrize("data", [[1, 2], "Age=21", 21, None], ids=repr)
def test_it_refuses_a_row_that_is_not_an_object(data):
    assert validate_features(data) == (
        {},
        {NON_FIELD: ["Expected an object with the nine features."]},
    )
