"""Data migrations of the rows that name files (issue 15: names in a storage, not paths)."""

from __future__ import annotations

from django.conf import settings

from .files import name_from_path


def storage_names(app_label: str, fields: tuple[tuple[str, str, str], ...]):
    """A RunPython function: each (model, field, folder setting) holding a host's absolute
    path gets the storage name instead (relative to the folder, or the file name)."""

    def forwards(apps, schema_editor):
        for model_name, field, setting in fields:
            model = apps.get_model(app_label, model_name)
            rows = model.objects.filter(**{f"{field}__startswith": "/"}).values_list("pk", field)
            for pk, value in rows:
                name = name_from_path(value, getattr(settings, setting))
                model.objects.filter(pk=pk).update(**{field: name})

    return forwards
