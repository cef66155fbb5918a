"""PredictionTally, and FeedbackTally.positive: what GET /metrics reads instead of counting.

Same design as 0002 (read it first): on Postgres, statement-level triggers with transition
tables add each statement's counts to the slot of its connection (pg_backend_pid() % 16), so a
bulk INSERT or COPY costs one upsert per group, not per row; on SQLite, row triggers on slot 0.
Predictions are never updated (an audit trail), so there is no UPDATE trigger; DELETE subtracts
and TRUNCATE empties the tally.

PredictionTally keeps, per (slot, channel, label, model version): the rows, the rows with a
latency, the sum of their latencies and the cumulative count at or under each bound of
mindpulse.metric_series.LATENCY_BUCKETS_MS (le0..le11): the Prometheus histogram, in one
small table. FeedbackTally gains `positive` (feedback whose actual outcome is "at risk").

Caution: on SQLite a later migration that rebuilds predictions_prediction or
predictions_feedback drops these triggers and must create them again (install_sqlite below).
"""

import importlib

from django.db import migrations, models

_TALLY = importlib.import_module("predictions.migrations.0002_feedback_tally")

SLOTS = 16
BUCKETS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
LE = [f"le{i}" for i in range(len(BUCKETS_MS))]
COLUMNS = ["n", "latency_n", "latency_sum", *LE]


def _pg_sums(source: str, sign: str) -> str:
    le = ", ".join(
        f"{sign}count(*) FILTER (WHERE latency_ms <= {bound})" for bound in BUCKETS_MS
    )
    return (
        f"SELECT pg_backend_pid() % {SLOTS}, channel, label, model_version_id, {sign}count(*), "
        f"{sign}count(latency_ms), {sign}coalesce(sum(latency_ms), 0), {le} "
        f"FROM {source} GROUP BY channel, label, model_version_id"
    )


_UPSERT = (
    "INSERT INTO predictions_predictiontally AS t "
    f"(slot, channel, label, model_version_id, {', '.join(COLUMNS)}) "
)
_ON_CONFLICT = "ON CONFLICT (slot, channel, label, model_version_id) DO UPDATE SET " + ", ".join(
    f"{c} = t.{c} + EXCLUDED.{c}" for c in COLUMNS
)

POSTGRES_INSTALL = [
    f"""CREATE FUNCTION predictions_prediction_tally_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    {_UPSERT} {_pg_sums("new_rows", "")} {_ON_CONFLICT};
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION predictions_prediction_tally_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    {_UPSERT} {_pg_sums("old_rows", "-")} {_ON_CONFLICT};
    RETURN NULL;
END $$""",
    """CREATE FUNCTION predictions_prediction_tally_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM predictions_predictiontally;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER predictions_prediction_tally_insert AFTER INSERT ON predictions_prediction
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_prediction_tally_insert()""",
    """CREATE TRIGGER predictions_prediction_tally_delete AFTER DELETE ON predictions_prediction
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_prediction_tally_delete()""",
    """CREATE TRIGGER predictions_prediction_tally_truncate
    AFTER TRUNCATE ON predictions_prediction
    FOR EACH STATEMENT EXECUTE FUNCTION predictions_prediction_tally_truncate()""",
    # The feedback tally of 0002, with the positive count.
    f"""CREATE OR REPLACE FUNCTION predictions_feedback_tally_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_feedbacktally AS t (slot, total, pending, positive)
    SELECT pg_backend_pid() % {SLOTS}, count(*), count(*) FILTER (WHERE consumed_by_id IS NULL),
           count(*) FILTER (WHERE actual)
    FROM new_rows HAVING count(*) > 0
    ON CONFLICT (slot) DO UPDATE
        SET total = t.total + EXCLUDED.total, pending = t.pending + EXCLUDED.pending,
            positive = t.positive + EXCLUDED.positive;
    RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION predictions_feedback_tally_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_feedbacktally AS t (slot, total, pending, positive)
    SELECT pg_backend_pid() % {SLOTS}, 0, pending, positive FROM (
        SELECT (SELECT count(*) FROM new_rows WHERE consumed_by_id IS NULL)
             - (SELECT count(*) FROM old_rows WHERE consumed_by_id IS NULL) AS pending,
               (SELECT count(*) FROM new_rows WHERE actual)
             - (SELECT count(*) FROM old_rows WHERE actual) AS positive
    ) AS change WHERE pending <> 0 OR positive <> 0
    ON CONFLICT (slot) DO UPDATE
        SET pending = t.pending + EXCLUDED.pending, positive = t.positive + EXCLUDED.positive;
    RETURN NULL;
END $$""",
    f"""CREATE OR REPLACE FUNCTION predictions_feedback_tally_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO predictions_feedbacktally AS t (slot, total, pending, positive)
    SELECT pg_backend_pid() % {SLOTS}, -count(*), -count(*) FILTER (WHERE consumed_by_id IS NULL),
           -count(*) FILTER (WHERE actual)
    FROM old_rows HAVING count(*) > 0
    ON CONFLICT (slot) DO UPDATE
        SET total = t.total + EXCLUDED.total, pending = t.pending + EXCLUDED.pending,
            positive = t.positive + EXCLUDED.positive;
    RETURN NULL;
END $$""",
]

POSTGRES_REMOVE = [
    *(
        f"DROP TRIGGER IF EXISTS predictions_prediction_tally_{op} ON predictions_prediction"
        for op in ("insert", "delete", "truncate")
    ),
    *(
        f"DROP FUNCTION IF EXISTS predictions_prediction_tally_{op}()"
        for op in ("insert", "delete", "truncate")
    ),
]


def _sqlite_values(row: str, sign: str) -> list[str]:
    return [
        f"{sign}1",
        f"{sign}({row}.latency_ms IS NOT NULL)",
        f"{sign}coalesce({row}.latency_ms, 0)",
        *(f"{sign}(CASE WHEN {row}.latency_ms <= {b} THEN 1 ELSE 0 END)" for b in BUCKETS_MS),
    ]


SQLITE_PREDICTION_TRIGGERS = [
    "DROP TRIGGER IF EXISTS predictions_prediction_tally_insert",
    "DROP TRIGGER IF EXISTS predictions_prediction_tally_delete",
    f"""CREATE TRIGGER predictions_prediction_tally_insert AFTER INSERT ON predictions_prediction
    BEGIN
        INSERT INTO predictions_predictiontally
            (slot, channel, label, model_version_id, {", ".join(COLUMNS)})
        VALUES (0, NEW.channel, NEW.label, NEW.model_version_id,
                {", ".join(_sqlite_values("NEW", ""))})
        ON CONFLICT (slot, channel, label, model_version_id) DO UPDATE SET
            {", ".join(f"{c} = {c} + excluded.{c}" for c in COLUMNS)};
    END""",
    f"""CREATE TRIGGER predictions_prediction_tally_delete AFTER DELETE ON predictions_prediction
    BEGIN
        UPDATE predictions_predictiontally SET
            {", ".join(f"{c} = {c} + {v}" for c, v in zip(COLUMNS, _sqlite_values("OLD", "-"), strict=True))}
        WHERE slot = 0 AND channel = OLD.channel AND label = OLD.label
          AND model_version_id = OLD.model_version_id;
    END""",
]

SQLITE_FEEDBACK_TRIGGERS = [
    "DROP TRIGGER IF EXISTS predictions_feedback_tally_insert",
    "DROP TRIGGER IF EXISTS predictions_feedback_tally_delete",
    "DROP TRIGGER IF EXISTS predictions_feedback_tally_actual",
    """CREATE TRIGGER predictions_feedback_tally_actual AFTER UPDATE OF actual ON predictions_feedback
    WHEN OLD.actual <> NEW.actual
    BEGIN
        UPDATE predictions_feedbacktally
        SET positive = positive + (NEW.actual = 1) - (OLD.actual = 1)
        WHERE slot = 0;
    END""",
    """CREATE TRIGGER predictions_feedback_tally_insert AFTER INSERT ON predictions_feedback
    BEGIN
        INSERT INTO predictions_feedbacktally (slot, total, pending, positive)
        VALUES (0, 1, NEW.consumed_by_id IS NULL, NEW.actual = 1)
        ON CONFLICT (slot) DO UPDATE
            SET total = total + 1, pending = pending + excluded.pending,
                positive = positive + excluded.positive;
    END""",
    """CREATE TRIGGER predictions_feedback_tally_delete AFTER DELETE ON predictions_feedback
    BEGIN
        UPDATE predictions_feedbacktally
        SET total = total - 1, pending = pending - (OLD.consumed_by_id IS NULL),
            positive = positive - (OLD.actual = 1)
        WHERE slot = 0;
    END""",
]

INITIAL_PREDICTIONS = f"""
INSERT INTO predictions_predictiontally
    (slot, channel, label, model_version_id, {", ".join(COLUMNS)})
SELECT 0, channel, label, model_version_id, count(*), count(latency_ms),
       coalesce(sum(latency_ms), 0),
       {", ".join(f"sum(CASE WHEN latency_ms <= {b} THEN 1 ELSE 0 END)" for b in BUCKETS_MS)}
FROM predictions_prediction GROUP BY channel, label, model_version_id
"""
# The existing positives, into slot 0 (no slot counted any before this migration).
INITIAL_POSITIVES = """
INSERT INTO predictions_feedbacktally (slot, total, pending, positive)
SELECT 0, 0, 0, count(*) FROM predictions_feedback WHERE actual
ON CONFLICT (slot) DO UPDATE SET positive = excluded.positive
"""


def install_sqlite(schema_editor) -> None:
    """All the tally triggers of SQLite: 0002's, then this migration's (which replace two)."""
    statements = [
        *_TALLY.SQLITE_REMOVE,
        *_TALLY.SQLITE_INSTALL,
        *SQLITE_PREDICTION_TRIGGERS,
        *SQLITE_FEEDBACK_TRIGGERS,
    ]
    for statement in statements:
        schema_editor.execute(statement, params=None)


def drop_sqlite_feedback_triggers(apps, schema_editor):
    # SQLite rebuilds predictions_feedbacktally to add its column; triggers that name it would
    # break the rebuild. install() creates them all again.
    if schema_editor.connection.vendor == "sqlite":
        for statement in [*_TALLY.SQLITE_REMOVE, SQLITE_FEEDBACK_TRIGGERS[2]]:
            schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for statement in POSTGRES_INSTALL:
            schema_editor.execute(statement, params=None)
    elif vendor == "sqlite":
        install_sqlite(schema_editor)
    else:
        raise NotImplementedError(f"No prediction tally triggers for {vendor}.")
    schema_editor.execute(INITIAL_PREDICTIONS, params=None)
    schema_editor.execute(INITIAL_POSITIVES, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_REMOVE:
            schema_editor.execute(statement, params=None)
    else:
        for statement in SQLITE_PREDICTION_TRIGGERS[:2]:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0004_merge_20261202_0749"),
        ("training", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_feedback_triggers, migrations.RunPython.noop),
        migrations.AddField(
            model_name="feedbacktally",
            name="positive",
            field=models.BigIntegerField(
                default=0, db_default=0, help_text="Feedback with actual = at risk."
            ),
        ),
        migrations.CreateModel(
            name="PredictionTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("slot", models.SmallIntegerField()),
                ("channel", models.CharField(max_length=8)),
                ("label", models.BooleanField()),
                ("model_version_id", models.BigIntegerField()),
                ("n", models.BigIntegerField(default=0)),
                ("latency_n", models.BigIntegerField(default=0)),
                ("latency_sum", models.FloatField(default=0)),
                *((name, models.BigIntegerField(default=0)) for name in LE),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("slot", "channel", "label", "model_version_id"),
                        name="predictions_predictiontally_key",
                    )
                ],
            },
        ),
        migrations.RunPython(install, remove),
    ]
