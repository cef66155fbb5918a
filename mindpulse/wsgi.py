import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.main")

application = get_wsgi_application()


def _freeze_startup_objects() -> None:
    """Import what the first requests would, then move it all out of the garbage collector's
    reach (gc.freeze): Django, pandas, scikit-learn and XGBoost leave ~400,000 long-lived
    objects that every full collection would walk again, a ~0.1 s pause in the middle of
    some request (a 10,000-row batch triggers several). Nothing is read from the database.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view and what they use
    import sklearn.pipeline  # noqa: F401 - what unpickling the model imports on first use
    import xgboost  # noqa: F401

    gc.freeze()


_freeze_startup_objects()
