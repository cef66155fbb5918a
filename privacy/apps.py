from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = _("Privacy: erasures, access records, retention")

    def ready(self):
        post_migrate.connect(_ensure_retention_schedule, sender=self, dispatch_uid=__name__)


def _ensure_retention_schedule(sender, using="default", **kwargs):
    from .schedule import retention_schedule_ensure

    retention_schedule_ensure(using=using)
