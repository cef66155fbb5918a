"""The page forms. The screening form's fields only render the inputs; the values are checked
by predictions.validation, exactly as the API and the batch scorer check them."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from training.features import BY_NAME, FEATURE_NAMES, Feature

from . import labels
from .validation import NON_FIELD, validate_features


def _step(feature: Feature) -> str:
    if feature.kind == "int":
        return "1"
    return "0.01" if feature.decimals == 2 else "0.1"


def _field(feature: Feature) -> forms.Field:
    options = {
        "label": labels.LABELS[feature.name],
        "help_text": labels.HELP[feature.name],
        "required": False,  # "required" is a message of validate_features, not of the field
    }
    if feature.kind == "category":
        choices = [("", _("Choose…"))] + [(c, labels.CHOICE_LABELS[c]) for c in feature.choices]
        widget = forms.Select(choices=choices, attrs={"required": True})
        return forms.CharField(widget=widget, **options)
    attrs = {
        "min": f"{feature.minimum:g}",
        "max": f"{feature.maximum:g}",
        "step": _step(feature),
        "required": True,
        "inputmode": "numeric" if feature.kind == "int" else "decimal",
    }
    return forms.CharField(widget=forms.NumberInput(attrs=attrs), **options)


class ScreeningForm(forms.Form):
    """The nine features, grouped as Profile, Studies and Lifestyle, and the consent question.

    cleaned_data holds the nine features only; `consent_given` is True when the box was ticked.
    """

    consent = forms.BooleanField(
        required=False,  # unticked by default; the estimate is shown either way
        label=_(
            "I agree that my answers are kept to monitor and improve the model, as the privacy "
            "notice describes. Without it, the estimate is shown and your answers are not kept."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.consent_given = False
        for name in FEATURE_NAMES:
            self.fields[name] = _field(BY_NAME[name])

    def clean(self):
        self.consent_given = bool(self.cleaned_data.get("consent"))
        raw = {name: self.data.get(self.add_prefix(name), "") for name in FEATURE_NAMES}
        clean, errors = validate_features(raw)
        for name, messages in errors.items():
            self.add_error(None if name == NON_FIELD else name, messages)
        return clean

    def groups(self):
        """[(title, [bound field with .unit]), ...] in the page's order."""
        return [
            (title, [(self[name], labels.UNITS.get(name, "")) for name in names])
            for title, names in labels.GROUPS
        ]


class FeedbackForm(forms.Form):
    actual = forms.TypedChoiceField(
        label=_("What was the actual outcome?"),
        choices=[
            ("1", _("Depression was confirmed (by a professional or a validated questionnaire)")),
            ("0", _("No depression")),
        ],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose one of the two answers.")},
    )


class BatchForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8, one student per line, with a header naming the nine columns of the dataset "
            "(Age, Gender, Department, CGPA, Sleep_Duration, Study_Hours, Social_Media_Hours, "
            "Physical_Activity, Stress_Level). Other columns are kept as they are."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
