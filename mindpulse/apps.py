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
        # Task failures raise alerts. (Periodic tasks are CELERY_BEAT_SCHEDULE: mindpulse.beat.)
        alert_wiring.connect()
