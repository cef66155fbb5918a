from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("Training and model registry")

    def ready(self):
        from . import checks  # noqa: F401 (registers the system checks)

        post_migrate.connect(_ensure_retrain_schedule, sender=self, dispatch_uid=__name__)


def _ensure_retrain_schedule(sender, using="default", **kwargs):
    from .schedule import retrain_schedule_ensure

    retrain_schedule_ensure(using=using)
