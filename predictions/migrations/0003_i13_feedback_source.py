"""Feedback.source and Feedback.client_key (issue 13: label provenance).

Rows stored before provenance was recorded get the most likely source, on the cautious side:
feedback on a prediction of channel `api` may have come through the original POST /feedback
shape (features and label from anyone), so it is `original_api` (not used by retrains unless
RETRAIN_LABEL_SOURCES says so); feedback on a form or batch prediction could only name the
prediction's id, so it is `student_link`.

On SQLite, adding a NOT NULL column rebuilds the table, which drops the tally triggers of
0002: they are created again here.
"""

import importlib

from django.db import migrations, models

_TALLY = importlib.import_module("predictions.migrations.0002_feedback_tally")


def mark_existing(apps, schema_editor):
    Feedback = apps.get_model("predictions", "Feedback")
    Feedback.objects.filter(prediction__channel="api").update(source="original_api")
    Feedback.objects.exclude(prediction__channel="api").update(source="student_link")


def reinstall_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in [*_TALLY.SQLITE_REMOVE, *_TALLY.SQLITE_INSTALL]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0002_feedback_tally"),
    ]

    operations = [
        migrations.AddField(
            model_name="feedback",
            name="source",
            field=models.CharField(
                choices=[
                    ("student_link", "Student (result link or prediction id)"),
                    ("original_api", "Original API (features and label together)"),
                    ("staff", "Staff"),
                    ("import", "File import"),
                ],
                default="import",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="feedback",
            name="client_key",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Keyed, rotating hash of the sender's address (never the address); "
                "empty for staff and imports.",
                max_length=32,
            ),
        ),
        migrations.RunPython(reinstall_sqlite_triggers, migrations.RunPython.noop),
        migrations.RunPython(mark_existing, migrations.RunPython.noop),
    ]
