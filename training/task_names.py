"""The Celery names of training's tasks and of its beat entry, written once.

Plain strings with no import, so that the settings (CELERY_BEAT_SCHEDULE), the router
(mindpulse.queues) and anything that sends by name read the same constant. A task's name must
never change: messages already queued under the old name would find no task after an upgrade.
"""

RETRAIN = "training.tasks.retrain"
# The beat entry (django-celery-beat's PeriodicTask.name): the same name as before the
# schedule moved into code, so that beat updates the existing row instead of adding one.
RETRAIN_ENTRY = "training: retrain"
