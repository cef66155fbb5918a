"""What people read about the nine features: labels, units, help, groups and advice.

The names, kinds and ranges stay in training.features; this module only adds the
translatable words shown on the pages.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from training.features import FEATURES

LABELS = {
    "Age": _("Age"),
    "Gender": _("Gender"),
    "Department": _("Department"),
    "CGPA": _("CGPA"),
    "Sleep_Duration": _("Sleep"),
    "Study_Hours": _("Study time"),
    "Social_Media_Hours": _("Social media"),
    "Physical_Activity": _("Physical activity"),
    "Stress_Level": _("Stress level"),
}

UNITS = {
    "Age": _("years"),
    "CGPA": _("out of 4"),
    "Sleep_Duration": _("hours per night"),
    "Study_Hours": _("hours per day"),
    "Social_Media_Hours": _("hours per day"),
    "Physical_Activity": _("minutes per day"),
    "Stress_Level": _("from 1 (low) to 10 (high)"),
}

# After a value on the result page ("6.5 h per night", "6 / 10").
SHORT_UNITS = {
    "Age": _("years"),
    "CGPA": "/ 4",
    "Sleep_Duration": _("h per night"),
    "Study_Hours": _("h per day"),
    "Social_Media_Hours": _("h per day"),
    "Physical_Activity": _("min per day"),
    "Stress_Level": "/ 10",
}

HELP = {
    "Age": _("Your age in whole years."),
    "Gender": _("As recorded in the dataset the model learned from."),
    "Department": _("The faculty you study in."),
    "CGPA": _("Cumulative grade point average on a 0–4 scale (e.g. 3.2)."),
    "Sleep_Duration": _("Average sleep per night over the last weeks."),
    "Study_Hours": _("Average time spent studying per day, classes included."),
    "Social_Media_Hours": _("Average time on social media per day."),
    "Physical_Activity": _("Average minutes of exercise or brisk activity per day."),
    "Stress_Level": _("How stressed you have felt lately, 1 being calm and 10 overwhelmed."),
}

CHOICE_LABELS = {
    "Male": _("Male"),
    "Female": _("Female"),
    "Arts": _("Arts"),
    "Business": _("Business"),
    "Engineering": _("Engineering"),
    "Medical": _("Medical"),
    "Science": _("Science"),
}

GROUPS = (
    (_("Profile"), ("Age", "Gender", "Department")),
    (_("Studies"), ("CGPA", "Study_Hours")),
    (_("Lifestyle"), ("Sleep_Duration", "Social_Media_Hours", "Physical_Activity", "Stress_Level")),
)

# The healthy range behind each encouragement (inclusive; None: open): the words of the
# "lowers" advice are true only inside it, the same numbers as the "raises" advice gives
# (7 to 9 hours of sleep, 30 minutes of activity). A factor that lowered the estimate while
# its value lies outside gets no comment at all, so that "6 h of social media" is never
# called moderate.
HEALTHY_RANGE = {
    "Sleep_Duration": (7.0, 9.0),
    "Physical_Activity": (30, None),
    "Stress_Level": (None, 4),
    "Social_Media_Hours": (None, 2.0),
}


def encouragement_is_true(name: str, value) -> bool:
    low, high = HEALTHY_RANGE.get(name, (None, None))
    if name not in HEALTHY_RANGE:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


# Plain-language advice for the factors a student can act on: shown when the factor raised
# this estimate ("raises") or, as encouragement, when it lowered it ("lowers") and the value
# is in HEALTHY_RANGE.
ADVICE = {
    "Sleep_Duration": {
        "raises": _(
            "Sleep weighs on this estimate. Most students feel better with 7 to 9 hours: "
            "regular bed and wake-up times and fewer screens late at night help."
        ),
        "lowers": _("Your sleep helps: keep a regular rhythm, even around exams."),
    },
    "Physical_Activity": {
        "raises": _(
            "Little physical activity weighs on this estimate. Around 30 minutes a day of "
            "walking, cycling or sport is known to help mood and stress."
        ),
        "lowers": _("Your physical activity helps: keep it up."),
    },
    "Stress_Level": {
        "raises": _(
            "Stress weighs on this estimate. Talk about it with someone you trust, plan "
            "breaks, and do not hesitate to contact the university health service."
        ),
        "lowers": _("Your stress level helps this estimate."),
    },
    "Social_Media_Hours": {
        "raises": _(
            "Time on social media weighs on this estimate. Try setting limits, especially "
            "in the evening, and replacing some of it with time with friends or outdoors."
        ),
        "lowers": _(
            "Your time on social media stays moderate (2 hours a day or less): that helps."
        ),
    },
}


def accepted_values() -> list[dict]:
    """What a batch file's cells may hold, read from training.features (the definitions
    predictions.validation checks against): one row per column, for the batch page."""
    rows = []
    for feature in FEATURES:
        if feature.kind == "category":
            accepted = ", ".join(feature.choices)
        elif feature.kind == "int":
            accepted = _("a whole number from %(min)g to %(max)g") % {
                "min": feature.minimum,
                "max": feature.maximum,
            }
        else:
            accepted = _("a number from %(min)g to %(max)g") % {
                "min": feature.minimum,
                "max": feature.maximum,
            }
        rows.append(
            {
                "column": feature.name,
                "label": LABELS[feature.name],
                "accepted": accepted,
                "unit": UNITS.get(feature.name, ""),
            }
        )
    return rows
