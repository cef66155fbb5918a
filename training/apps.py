from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("Training and model registry")

    def ready(self):
        from predictions import events

        from . import checks  # noqa: F401 (registers the system checks)

        events.on_retrain_threshold(_request_retrain_on_feedback)


def _request_retrain_on_feedback():
    from .retrain import retrain_request_on_feedback  # celery and pandas: only when needed

    return retrain_request_on_feedback()
