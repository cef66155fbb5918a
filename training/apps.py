from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and model registry"

    def ready(self):
        from . import checks  # noqa: F401 (registers the system checks)

        post_migrate.connect(_ensure_retrain_schedule, sender=self, dispatch_uid=__name__)
        from predictions import events

        events.on_retrain_threshold(_request_retrain_on_feedback)


def _request_retrain_on_feedback():
    from .retrain import retrain_request_on_feedback  # celery and pandas: only when needed

    return retrain_request_on_feedback()


def _ensure_retrain_schedule(sender, using="default", **kwargs):
    from .schedule import retrain_schedule_ensure

    retrain_schedule_ensure(using=using)
