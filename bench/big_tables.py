"""`make bench-tables`: what /metrics, the admin lists and a report window cost at 10M rows.

    .venv/bin/python -m bench.big_tables [--rows 10000000] [--database bench_tables]

It creates a scratch Postgres database (dropped at the end unless --keep-db), migrates it,
registers one small model, then writes the rows directly with INSERT ... SELECT over
generate_series (in chunks of a million; not through the API, which would take hours): --rows
predictions spread over the last 30 days with a latency each, and feedback on a tenth of them.
The tally triggers run as in production. It then times, in this process (median of --repeat):
one /metrics scrape (the view, through Django's test client, token auth), the admin list of
predictions and of feedback (a staff session), and the 24-hour window query of the reports;
and it states the table sizes per million predictions (rows, MB with indexes).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1_000_000

PREDICTIONS = """
INSERT INTO predictions_prediction (id, age, gender, department, cgpa, sleep_duration,
    study_hours, social_media_hours, physical_activity, stress_level, probability, label,
    threshold, model_version_id, channel, warnings, latency_ms, created_at, consent_version)
SELECT gen_random_uuid(), 18 + i %% 12, (ARRAY['Male','Female'])[1 + i %% 2],
    (ARRAY['Science','Engineering','Medical','Arts','Business'])[1 + i %% 5],
    2 + (i %% 200) / 100.0, 4 + (i %% 60) / 10.0, (i %% 80) / 10.0, (i %% 90) / 10.0,
    i %% 120, 1 + i %% 10, (i %% 1000) / 1000.0, i %% 3 = 0, 0.5, %(version)s,
    (ARRAY['api','api','api','form','batch'])[1 + i %% 5], '[]'::jsonb,
    0.1 + (i %% 500) / 100.0, now() - (%(total)s - i) * interval '250 milliseconds', ''
FROM generate_series(%(start)s, %(stop)s) AS i
"""
FEEDBACK = """
INSERT INTO predictions_feedback (prediction_id, actual, source, client_key, created_at)
SELECT id, label, 'import', '', created_at + interval '1 day'
FROM predictions_prediction WHERE (hashtext(id::text) % 10) = 0
"""
SIZES = """
SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
FROM pg_class c WHERE c.relname IN
    ('predictions_prediction', 'predictions_feedback', 'predictions_predictiontally',
     'predictions_feedbacktally')
"""


def _timed(function, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bench_tables")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)

    from .data import create_database, drop_database

    base = args.postgres.rstrip("/")
    admin_url = f"{base}/postgres"
    folder = Path(tempfile.mkdtemp(prefix="mindpulse-tables-"))
    token = secrets.token_urlsafe(32)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "mindpulse.settings.main",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "DATABASE_URL": f"{base}/{args.database}",
            "VAR_DIR": str(folder / "var"),
            "ARTIFACTS_DIR": str(folder / "artifacts"),
            "METRICS_TOKEN": token,
            "THROTTLE_ENABLED": "false",
        }
    )
    create_database(admin_url, args.database)
    try:
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        return _run(args, token)
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            drop_database(admin_url, args.database)


def _run(args, token: str) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from training import datagen, pipeline, services

    call_command("migrate", verbosity=0)
    outcome = pipeline.train_candidates(
        datagen.generate_students(600, seed=1), seed=1, metric="roc_auc", n_jobs=1
    )
    version = services.model_activate(services.model_register(outcome), reason="bench")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(1, args.rows + 1, CHUNK):
            stop = min(args.rows, start + CHUNK - 1)
            cursor.execute(
                PREDICTIONS,
                {"version": version.pk, "total": args.rows, "start": start, "stop": stop},
            )
            print(f"  {stop:,} predictions ({time.perf_counter() - started:.0f} s)", flush=True)
        cursor.execute(FEEDBACK)
        cursor.execute("VACUUM ANALYZE predictions_prediction")
        cursor.execute("VACUUM ANALYZE predictions_feedback")
        cursor.execute(SIZES)
        sizes = {name: {"rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()}
    loaded = time.perf_counter() - started

    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_superuser("bench", "bench@example.org", "x" * 20)
    scraper, admin = Client(), Client()
    admin.force_login(staff)

    def scrape():
        answer = scraper.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
        if answer.status_code != 200:
            raise RuntimeError(f"/metrics answered {answer.status_code}")

    def listing(model):
        def get():
            answer = admin.get(f"/admin/predictions/{model}/")
            if answer.status_code != 200:
                raise RuntimeError(f"the {model} list answered {answer.status_code}")

        return get

    def window():
        from datetime import timedelta

        from django.utils import timezone

        from predictions.models import Prediction

        since = timezone.now() - timedelta(hours=24)
        return list(Prediction.objects.filter(created_at__gte=since).values_list("probability"))

    scrape(), listing("prediction")(), listing("feedback")()  # warm: caches, connections
    figures = {
        "rows": args.rows,
        "load_seconds": loaded,
        "metrics_scrape": _timed(scrape, args.repeat),
        "admin_predictions": _timed(listing("prediction"), args.repeat),
        "admin_feedback": _timed(listing("feedback"), args.repeat),
        "report_window_24h": _timed(window, args.repeat),
        "sizes": sizes,
        "per_million_predictions": {
            name: {
                "rows": round(value["rows"] / (args.rows / 1e6)),
                "mb_with_indexes": round(value["bytes"] / 2**20 / (args.rows / 1e6), 1),
            }
            for name, value in sizes.items()
        },
        "load_average": os.getloadavg(),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT probability FROM predictions_prediction WHERE created_at >= %s",
            [time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))],
        )
        figures["report_window_plan"] = [row[0] for row in cursor.fetchall()]
    print(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
