"""The benchmark's database and its bulk data: COPY, not the ORM, for a million rows.

Runs inside the orchestrator after django.setup() (the bench database's settings).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from training.features import BY_NAME, DAY_HOURS_FEATURES, FEATURE_NAMES, MAX_DAY_HOURS, TARGET

_PREDICTION_COLUMNS = [
    "id",
    *[name.lower() for name in FEATURE_NAMES],  # training.selectors.FIELD_OF
    "probability",
    "label",
    "threshold",
    "model_version_id",
    "channel",
    "warnings",
    "latency_ms",
    "created_at",
    "consent_version",  # NOT NULL without a database default: '' as the model's default
]


def create_database(admin_url: str, name: str) -> None:
    """A new, empty database `name` (an existing one of that name is dropped first)."""
    drop_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def student_rows(count: int, seed: int):
    """`count` generated students that the API accepts: the nine features present, and the
    day's hours within 24 (the generator lets a few rows exceed it)."""
    from training import datagen

    frame = datagen.generate_students(count + count // 20 + 10, seed=seed)
    frame = frame.dropna(subset=list(FEATURE_NAMES))
    frame = frame[frame[list(DAY_HOURS_FEATURES)].sum(axis=1) <= MAX_DAY_HOURS]
    frame = frame.head(count).reset_index(drop=True)
    if len(frame) < count:
        raise RuntimeError(f"generated {len(frame)} complete rows, wanted {count}")
    return frame


def copy_predictions(frame, loaded, *, created_at: datetime, channel: str = "batch") -> list:
    """Store one prediction per row of `frame`, scored by the loaded model; returns the ids."""
    from django.db import connection

    probabilities = loaded.predictor.predict_proba(frame[list(FEATURE_NAMES)])
    ids = [uuid.uuid4() for _ in range(len(frame))]
    columns = [
        (frame[name].astype(int) if BY_NAME[name].kind == "int" else frame[name]).tolist()
        for name in FEATURE_NAMES
    ]
    statement = sql.SQL("COPY predictions_prediction ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, _PREDICTION_COLUMNS))
    )
    threshold = float(loaded.threshold)
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for i, prediction_id in enumerate(ids):
            p = float(probabilities[i])
            features = [column[i] for column in columns]
            copy.write_row(
                [
                    prediction_id,
                    *features,
                    p,
                    p >= threshold,
                    threshold,
                    loaded.version_id,
                    channel,
                    "[]",
                    None,
                    created_at,
                    "",
                ]
            )
    return ids


def copy_feedback(ids, actual, *, created_at: datetime, consumed_by_id: int | None) -> None:
    from django.db import connection

    # source and client_key are NOT NULL without a database default: the model's defaults.
    statement = (
        "COPY predictions_feedback (prediction_id, actual, created_at, consumed_by_id, source, "
        "client_key) FROM STDIN"
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for prediction_id, outcome in zip(ids, actual, strict=True):
            copy.write_row([prediction_id, bool(outcome), created_at, consumed_by_id, "import", ""])


def labelled(frame) -> np.ndarray:
    """The generator's own outcome of each row: the feedback a student would give."""
    return frame[TARGET].astype(bool).to_numpy()


def request_rows(frame) -> list[dict]:
    """The rows as an API client sends them: Kaggle names, whole numbers as integers."""
    return [
        {
            name: int(value) if BY_NAME[name].kind == "int" else value
            for name, value in record.items()
        }
        for record in frame[list(FEATURE_NAMES)].to_dict("records")
    ]


def write_lines(path, rows) -> None:
    import json

    with open(path, "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
