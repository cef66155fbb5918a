"""FeedbackTally: the feedback counts kept by triggers, so that no request counts a big table.

Postgres: statement-level triggers with transition tables, so a bulk INSERT or COPY of a
million rows costs one upsert, not a million; each connection adds to its own slot
(pg_backend_pid() % 16) so that concurrent feedback does not wait on one row. TRUNCATE empties
the tally (an absent slot counts zero).

SQLite (one writer at a time): row triggers on slot 0. The UPDATE and DELETE triggers only
update an existing slot row: after a flush that empties both tables, in either order, the
tally is empty and the counts are zero.

Caution for later migrations: on SQLite, Django rebuilds a table to alter it, which drops its
triggers; a migration that alters predictions_feedback must recreate them (the counts test in
predictions/tests/test_tally.py fails if they are missing).
"""

from django.db import migrations, models

SLOTS = 16

POSTGRES_INSTALL = [
    f"""CREATE FUNCTION predictions_feedback_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_feedbacktally AS t (slot, total, pending)
    SELECT pg_backend_pid() % {SLOTS}, count(*), count(*) FILTER (WHERE consumed_by_id IS NULL)
    FROM new_rows HAVING count(*) > 0
    ON CONFLICT (slot) DO UPDATE
        SET total = t.total + EXCLUDED.total, pending = t.pending + EXCLUDED.pending;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION predictions_feedback_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_feedbacktally AS t (slot, total, pending)
    SELECT pg_backend_pid() % {SLOTS}, 0, delta FROM (
        SELECT (SELECT count(*) FROM new_rows WHERE consumed_by_id IS NULL)
             - (SELECT count(*) FROM old_rows WHERE consumed_by_id IS NULL) AS delta
    ) AS change WHERE delta <> 0
    ON CONFLICT (slot) DO UPDATE SET pending = t.pending + EXCLUDED.pending;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION predictions_feedback_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_feedbacktally AS t (slot, total, pending)
    SELECT pg_backend_pid() % {SLOTS}, -count(*), -count(*) FILTER (WHERE consumed_by_id IS NULL)
    FROM old_rows HAVING count(*) > 0
    ON CONFLICT (slot) DO UPDATE
        SET total = t.total + EXCLUDED.total, pending = t.pending + EXCLUDED.pending;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION predictions_feedback_tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM predictions_feedbacktally;
    RETURN NULL;
END $$""",
    f"""CREATE TRIGGER predictions_feedback_tally_insert AFTER INSERT ON predictions_feedback
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_feedback_tally_insert()""",
    f"""CREATE TRIGGER predictions_feedback_tally_update AFTER UPDATE ON predictions_feedback
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_feedback_tally_update()""",
    f"""CREATE TRIGGER predictions_feedback_tally_delete AFTER DELETE ON predictions_feedback
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_feedback_tally_delete()""",
    f"""CREATE TRIGGER predictions_feedback_tally_truncate AFTER TRUNCATE ON predictions_feedback
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_feedback_tally_truncate()""",
]

POSTGRES_REMOVE = [
    *(
        f"DROP TRIGGER IF EXISTS predictions_feedback_tally_{op} ON predictions_feedback"
        for op in ("insert", "update", "delete", "truncate")
    ),
    *(
        f"DROP FUNCTION IF EXISTS predictions_feedback_tally_{op}()"
        for op in ("insert", "update", "delete", "truncate")
    ),
]

SQLITE_INSTALL = [
    """CREATE TRIGGER predictions_feedback_tally_insert AFTER INSERT ON predictions_feedback
    BEGIN
        INSERT INTO predictions_feedbacktally (slot, total, pending)
        VALUES (0, 1, NEW.consumed_by_id IS NULL)
        ON CONFLICT (slot) DO UPDATE
            SET total = total + 1, pending = pending + excluded.pending;
    END""",
    """CREATE TRIGGER predictions_feedback_tally_update
    AFTER UPDATE OF consumed_by_id ON predictions_feedback
    WHEN (OLD.consumed_by_id IS NULL) <> (NEW.consumed_by_id IS NULL)
    BEGIN
        UPDATE predictions_feedbacktally
        SET pending = pending + (NEW.consumed_by_id IS NULL) - (OLD.consumed_by_id IS NULL)
        WHERE slot = 0;
    END""",
    """CREATE TRIGGER predictions_feedback_tally_delete AFTER DELETE ON predictions_feedback
    BEGIN
        UPDATE predictions_feedbacktally
        SET total = total - 1, pending = pending - (OLD.consumed_by_id IS NULL)
        WHERE slot = 0;
    END""",
]

SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS predictions_feedback_tally_insert",
    "DROP TRIGGER IF EXISTS predictions_feedback_tally_update",
    "DROP TRIGGER IF EXISTS predictions_feedback_tally_delete",
]

# The rows that exist already (a database migrated with feedback in it). The triggers are
# created first: on Postgres CREATE TRIGGER locks the table against writes until this
# migration commits, so no feedback slips between the count and the triggers.
INITIAL = """
INSERT INTO predictions_feedbacktally (slot, total, pending)
SELECT 0, count(*), coalesce(sum(CASE WHEN consumed_by_id IS NULL THEN 1 ELSE 0 END), 0)
FROM predictions_feedback
"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRES_INSTALL, "sqlite": SQLITE_INSTALL}.get(vendor)
    if statements is None:
        raise NotImplementedError(f"No feedback tally triggers for {vendor}.")
    # params=None: the SQL holds a literal % (modulo), not placeholders.
    for statement in [*statements, INITIAL]:
        schema_editor.execute(statement, params=None)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = POSTGRES_REMOVE if vendor == "postgresql" else SQLITE_REMOVE
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="FeedbackTally",
            fields=[
                ("slot", models.SmallIntegerField(primary_key=True, serialize=False)),
                ("total", models.BigIntegerField(default=0)),
                (
                    "pending",
                    models.BigIntegerField(
                        default=0, help_text="Feedback no retrain consumed yet."
                    ),
                ),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
