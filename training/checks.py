"""`manage.py check` (and the model registry's admin page): settings that contradict the model.

An absolute ACCURACY_THRESHOLD above the model's own test accuracy fires the performance
trigger and a critical alert on a healthy model at every check: a retrain a day, on no new
data. The check reads the model in service, so a database that is not there (yet) is skipped.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks


def accuracy_threshold_problem() -> str | None:
    """Why the absolute accuracy threshold cannot be met by the model in service, or None."""
    if settings.PERFORMANCE_TRIGGER != "absolute":
        return None
    from .selectors import active_model_version

    version = active_model_version()
    accuracy = (version.metrics or {}).get("accuracy") if version is not None else None
    if accuracy is None or accuracy >= settings.ACCURACY_THRESHOLD:
        return None
    return (
        f"ACCURACY_THRESHOLD={settings.ACCURACY_THRESHOLD:g} is above the test accuracy of the "
        f"model in service (v{version.version}: {accuracy:.3f}): with PERFORMANCE_TRIGGER="
        "absolute the performance trigger and its critical alert fire on a healthy model. "
        "Use PERFORMANCE_TRIGGER=relative or a threshold below the model's own accuracy."
    )


@checks.register(checks.Tags.models)
def check_accuracy_threshold(app_configs=None, **kwargs):
    try:
        problem = accuracy_threshold_problem()
    except Exception:  # no database, or not migrated yet: nothing to compare with
        return []
    if problem is None:
        return []
    return [checks.Warning(problem, id="training.W001")]
