"""The one validation of the nine features: the form, the API and the batch scorer all call it.

`validate_features(data)` returns `(clean, errors)`: `clean` maps each Kaggle feature name to a
typed value (int, float or the canonical category) when `errors` is empty; `errors` maps a
field name (or NON_FIELD for the sum rule) to a list of messages. The ranges are the plausible
ones of `training.features`, not the training ranges: a value inside them but outside what the
model saw is accepted and reported as a warning elsewhere (predictions.ranges).

Strings are parsed (form posts and CSV cells are strings, and the original API's clients may
send "21"), but only plain decimal notation: booleans, NaN, Infinity, arrays, objects and
anything Python's float() would stretch to accept ("1_0", "nan", "٣") are refused.

A day of more than 24 hours (sleep + study + social media) is refused on the form, which can
tell the student at once; the API, the original API's paths and the batch scorer accept it
(`allow_long_day=True`), because the original client's sliders allow it and the Kaggle file
holds such rows: the stored prediction carries an `implausible_day` warning instead
(`implausible_day_warning`), and data-quality monitoring counts those rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from training.features import (
    BY_NAME,
    DAY_HOURS_FEATURES,
    FEATURES,
    ID_COLUMN,
    MAX_DAY_HOURS,
    TARGET,
    Feature,
)

# Columns of a dataset row that are accepted and ignored (the id and the label).
IGNORED_FIELDS = frozenset({ID_COLUMN, TARGET})
# The key of errors that belong to no single field (DRF's default name for them).
NON_FIELD = "non_field_errors"
# The code of the warning stored with a prediction whose day adds up to more than 24 hours.
IMPLAUSIBLE_DAY = "implausible_day"

# Unknown keys reported one by one at most (the rest are summed up in one message), each shown
# at most this long: an error body stays small whatever the request held.
MAX_UNKNOWN_REPORTED = 10
MAX_KEY_SHOWN = 64

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MISSING = object()
_LOWER_NAMES = {name.lower(): name for name in BY_NAME}


class _Invalid(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def validate_features(
    data: Any, *, ignore_unknown: bool = False, allow_long_day: bool = False
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check one row of the nine features; unknown keys are errors unless `ignore_unknown`,
    and a day of more than 24 hours is an error unless `allow_long_day`."""
    if not isinstance(data, Mapping):
        return {}, {NON_FIELD: [_("Expected an object with the nine features.")]}
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for feature in FEATURES:
        try:
            clean[feature.name] = _clean(feature, data.get(feature.name, _MISSING))
        except _Invalid as exc:
            errors[feature.name] = [exc.message]
    if not ignore_unknown:
        unknown = [key for key in data if key not in BY_NAME and key not in IGNORED_FIELDS]
        errors.update(unknown_field_errors(unknown))
    if not allow_long_day and all(name in clean for name in DAY_HOURS_FEATURES):
        message = _long_day_message(clean)
        if message:
            errors.setdefault(NON_FIELD, []).insert(0, message)
    if errors:
        return {}, errors
    return clean, {}


def implausible_day_warning(clean: Mapping[str, Any]) -> dict[str, Any] | None:
    """The warning stored with a row whose day adds up to more than 24 hours, or None."""
    message = _long_day_message(clean)
    if message is None:
        return None
    return {
        "feature": "+".join(DAY_HOURS_FEATURES),
        "code": IMPLAUSIBLE_DAY,
        "value": _day_hours(clean),
        "message": message,
    }


def _day_hours(clean: Mapping[str, Any]) -> float:
    return round(sum(float(clean[name]) for name in DAY_HOURS_FEATURES), 6)


def _long_day_message(clean: Mapping[str, Any]) -> str | None:
    total = _day_hours(clean)
    if total <= MAX_DAY_HOURS:
        return None
    return _(
        "Sleep, study and social media add up to %(total)s hours, but a day has only %(max)s."
    ) % {"total": _number_text(total), "max": _number_text(MAX_DAY_HOURS)}


def unknown_field_errors(keys, message=None) -> dict[str, list[str]]:
    """ "Unknown field." per key, for the first MAX_UNKNOWN_REPORTED keys only (shortened);
    one more entry says how many others there were."""
    keys = list(keys)
    errors = {
        str(key)[:MAX_KEY_SHOWN]: [message or _unknown_message(str(key))]
        for key in keys[:MAX_UNKNOWN_REPORTED]
    }
    if len(keys) > MAX_UNKNOWN_REPORTED:
        errors.setdefault(NON_FIELD, []).append(
            _("%(count)s more unknown fields are not listed.")
            % {"count": len(keys) - MAX_UNKNOWN_REPORTED}
        )
    return errors


def _unknown_message(key: str) -> str:
    known = _LOWER_NAMES.get(key.strip().lower())
    if known is not None:
        return _("Unknown field. Did you mean %(name)s?") % {"name": known}
    return _("Unknown field.")


def _clean(feature: Feature, value: Any):
    if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
        raise _Invalid(_("This field is required."))
    if feature.kind == "category":
        return _category(feature, value)
    number = _number(value)
    if feature.kind == "int":
        if number != math.floor(number):
            raise _Invalid(_("Enter a whole number."))
        number = int(number)
    if not feature.minimum <= number <= feature.maximum:
        raise _Invalid(
            _("Enter a value between %(min)s and %(max)s.")
            % {"min": _number_text(feature.minimum), "max": _number_text(feature.maximum)}
        )
    return number


def _number(value: Any) -> float:
    # bool is a subclass of int: it must be refused before the int branch.
    if isinstance(value, bool):
        raise _Invalid(_("Enter a number, not true or false."))
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            raise _Invalid(_("Enter a number."))
        value = text
    elif not isinstance(value, (int, float, Decimal)):
        raise _Invalid(_("Enter a number."))
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise _Invalid(_("Enter a finite number.")) from None
    if not math.isfinite(number):
        raise _Invalid(_("Enter a finite number (NaN and Infinity are refused)."))
    return number


def _category(feature: Feature, value: Any) -> str:
    choices = ", ".join(feature.choices)
    if not isinstance(value, str):
        raise _Invalid(_("Choose one of: %(choices)s.") % {"choices": choices})
    wanted = value.strip().casefold()
    for choice in feature.choices:
        if choice.casefold() == wanted:
            return choice
    raise _Invalid(
        _("“%(value)s” is not one of: %(choices)s.") % {"value": value[:40], "choices": choices}
    )


def _number_text(number: float) -> str:
    return f"{number:g}"
