"""The Celery name of privacy's task and of its beat entry, written once.

Plain strings with no import, so that the settings (CELERY_BEAT_SCHEDULE) and the task read
the same constant. A task's name must never change: messages already queued under the old
name would find no task after an upgrade.
"""

RETENTION = "privacy.tasks.retention"
# The beat entry (django-celery-beat's PeriodicTask.name), kept from before the schedule moved
# into code, so that beat updates the existing row instead of adding one.
RETENTION_ENTRY = "privacy: retention"
