from django.apps import AppConfig


class MindPulseConfig(AppConfig):
    """The project package: commands (bootstrap, serve, backup...) and the process wiring."""

    name = "mindpulse"
    verbose_name = "MindPulse"

    def ready(self):
        from celery import signals

        from monitoring import alert_wiring

        from . import logs

        # One log line per task, in every process that runs tasks (worker, eager tests).
        signals.task_prerun.connect(logs.on_task_prerun, dispatch_uid="mindpulse.logs.prerun")
        signals.task_postrun.connect(logs.on_task_postrun, dispatch_uid="mindpulse.logs.postrun")
        # Task failures raise alerts; the alert check gets its periodic task after migrate.
        alert_wiring.connect()
        # Then every periodic task gets an expiry just under its period (mindpulse.queues):
        # connected last to monitoring's post_migrate (the last app with models), so that it
        # runs after every periodic task was created.
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from . import queues

        post_migrate.connect(
            queues.periodic_expiries_ensure,
            sender=apps.get_app_config("monitoring"),
            dispatch_uid="mindpulse.queues.expiry",
        )
