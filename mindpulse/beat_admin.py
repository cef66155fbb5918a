"""django-celery-beat's periodic-task admin, saying which entries MindPulse sets in code.

Beat writes CELERY_BEAT_SCHEDULE (mindpulse.beat) into these rows at every start, so staff
who edit one of them must be told that the edit lasts only until beat restarts.
"""

from django.conf import settings
from django.contrib import admin, messages
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask

IN_CODE_NOTE = (
    "MindPulse sets this entry in code (CELERY_BEAT_SCHEDULE, from the *_SCHEDULE variables of "
    "the environment: docs/operations.md). Every start of beat writes its task, crontab, "
    "arguments and expiry back from the settings, so an edit made here lasts only until beat "
    'restarts; only "Enabled" is kept. To change it for good, set the variable and restart beat.'
)


def in_code(task: PeriodicTask) -> bool:
    return task.name in settings.CELERY_BEAT_SCHEDULE


class PeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    list_display = (*beat_admin.PeriodicTaskAdmin.list_display, "set_in_code")

    @admin.display(boolean=True, description="set in code")
    def set_in_code(self, obj: PeriodicTask) -> bool:
        return in_code(obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, object_id)
        if request.method == "GET" and task is not None and in_code(task):
            messages.warning(request, IN_CODE_NOTE)
        return super().change_view(request, object_id, form_url, extra_context)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
