"""The Celery names of monitoring's tasks and of its beat entries, written once.

Plain strings with no import, so that the settings (CELERY_BEAT_SCHEDULE), the router
(mindpulse.queues) and anything that sends by name read the same constant. A task's name must
never change: messages already queued under the old name would find no task after an upgrade.
"""

RUN_REPORTS = "monitoring.tasks.run_reports"
CHECK_ALERTS = "monitoring.check_alerts"
DELIVER_ALERT = "monitoring.deliver_alert"
# The beat entries (django-celery-beat's PeriodicTask.name): the same names as before the
# schedule moved into code, so that beat updates the existing rows instead of adding others.
REPORTS_ENTRY = "monitoring: run reports"
CHECK_ALERTS_ENTRY = "monitoring: check alerts"
