from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = _("Monitoring")

    def ready(self):
        # After every migrate (and every test-database flush), so that a fresh database
        # always has the reports' periodic task; an existing one is left as staff edited it.
        post_migrate.connect(
            _ensure_schedule, sender=self, dispatch_uid="monitoring.ensure_schedule"
        )


def _ensure_schedule(sender, using="default", **kwargs):
    from django.db import connections

    # A partial migrate (e.g. `migrate monitoring`) may run before django-celery-beat's tables.
    if "django_celery_beat_periodictask" not in connections[using].introspection.table_names():
        return
    from .services import schedule_ensure

    schedule_ensure(using=using)
