"""`make bench-tables`: what /metrics, the admin lists and a report window cost at 10M rows.

    .venv/bin/python -m bench.big_tables [--rows 10000000] [--database bench_tables]

It creates a scratch Postgres database (dropped at the end unless --keep-db), migrates it,
registers a model, then writes the rows directly with INSERT ... SELECT over
generate_series (in chunks of a million; not through the API, which would take hours): --rows
predictions spread over the last 30 days with a latency each, and feedback on a tenth of them.
The tally triggers run as in production. It then times, in this process (median of --repeat):
one /metrics scrape (the view, through Django's test client, token auth), the admin list of
predictions and of feedback (a staff session), and the reports' window queries (the frames
they read: 24 h of predictions, the labels that arrived in those 24 h); and it states the
table sizes per million predictions (rows, MB with indexes). Last, it runs the three reports
(`manage.py run_reports`, a child process: wall seconds and peak memory) twice against their
budget (REPORTS_BUDGET), on their 24-hour window, of which they read at most REPORT_MAX_ROWS
rows (a uniform random sample drawn in the database; the whole-window reads are timed too).

The model is trained on --reference-rows generated students, as `make bench` does, so the
reports compare against a reference of the size their budget was set with. --keep-db with
--folder keeps the database and the model files; --reuse then measures them again without
reloading (minutes instead of a quarter of an hour).
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
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--folder", help="model files and reports (default: a new temp folder)")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help="measure a database kept by --keep-db (same --folder)"
    )
    parser.add_argument("--no-reports", action="store_true", help="skip the report runs")
    args = parser.parse_args(argv)
    if args.reuse and not args.folder:
        parser.error("--reuse needs the --folder of the run that kept the database")

    from .data import create_database, drop_database

    base = args.postgres.rstrip("/")
    admin_url = f"{base}/postgres"
    folder = Path(args.folder or tempfile.mkdtemp(prefix="mindpulse-tables-"))
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
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        }
    )
    if not args.reuse:
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
    from django.db import connection
    from django.test import Client

    started = time.perf_counter()
    if args.reuse:
        with connection.cursor() as cursor:
            cursor.execute(SIZES)
            sizes = {name: {"rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()}
        loaded = None
    else:
        sizes = _load(args)
        loaded = time.perf_counter() - started

    from django.contrib.auth import get_user_model

    staff, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
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

    scrape(), listing("prediction")(), listing("feedback")()  # warm: caches, connections
    figures = {
        "rows": args.rows,
        "load_seconds": loaded,
        "metrics_scrape": _timed(scrape, args.repeat),
        "admin_predictions": _timed(listing("prediction"), args.repeat),
        "admin_feedback": _timed(listing("feedback"), args.repeat),
        **_window_queries(min(args.repeat, 3)),
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
    if not args.no_reports:
        figures["reports"] = _report_runs()
    print(json.dumps(figures, indent=2, default=str))
    return 0


def _load(args) -> dict:
    """Migrate, register a model trained on --reference-rows, write the rows; the sizes."""
    from django.core.management import call_command
    from django.db import connection

    from training import datagen, pipeline, services

    call_command("migrate", verbosity=0)
    outcome = pipeline.train_candidates(
        datagen.generate_students(args.reference_rows, seed=1), seed=1, metric="roc_auc", n_jobs=2
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
        return {name: {"rows": rows, "bytes": size} for name, rows, size in cursor.fetchall()}


def _window_queries(repeat: int) -> dict:
    """The frames the reports read (predictions.selectors), timed with their row counts."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from predictions import selectors

    now = timezone.now()
    day = now - timedelta(hours=24)
    cap = settings.REPORT_MAX_ROWS
    frames = {
        "window_24h": lambda: selectors.production_frame(since=day, until=now),
        "labelled_24h": lambda: selectors.labelled_frame(since=day, until=now),
        # What the reports read (REPORT_MAX_ROWS): a sample of the window, all labels to the cap.
        "sample_24h": lambda: selectors.production_sample(since=day, until=now, max_rows=cap)[0],
        "labelled_sample_24h": lambda: selectors.labelled_sample(
            since=day, until=now, max_rows=cap
        )[0],
    }
    figures = {"report_max_rows": cap}
    for name, read in frames.items():
        rows = len(read())
        figures[f"report_{name}"] = {**_timed(read, repeat), "rows": rows}
    return figures


# The reports' budget (README, make bench step 6), set for 100,000 reference rows and 10,000
# current ones: the whole run (three reports) and the peak memory of the process running it.
REPORTS_BUDGET = {"run_seconds": 10.0, "peak_mb": 1024.0}


def _report_runs() -> dict:
    """`manage.py run_reports` twice. Each run's window is at least the last
    REPORTS_WINDOW_HOURS (24 h), also 6 h after the previous run (report_window_start), so
    the first run of a deployment and a scheduled one read the same rows."""
    from monitoring.models import MonitoringRun

    from .stats import run_peak

    runs = {}
    for name in ("run_1", "run_2"):
        result = run_peak(
            [sys.executable, "manage.py", "run_reports"], env=dict(os.environ), cwd=ROOT
        )
        run = MonitoringRun.objects.order_by("-pk").first()
        figures = {
            "process_seconds": result["seconds"],
            "peak_mb": result["peak_mb"],
            "returncode": result["returncode"],
            "status": run.status if run else None,
            "load_average": os.getloadavg(),
        }
        if result["returncode"] != 0:
            figures["output"] = result["output"][-2000:]
        if run is not None and run.finished_at is not None:
            figures["run_seconds"] = (run.finished_at - run.started_at).total_seconds()
            for report in run.reports.all():
                figures[report.kind] = {
                    "status": report.status,
                    "seconds": report.duration_seconds,
                    "current_rows": report.current_rows,
                    "reference_rows": report.reference_rows,
                    "window_rows": report.summary.get("window_rows"),
                    "sampled_rows": report.summary.get("sampled_rows"),
                    "reason": report.reason[:200],
                }
        figures["within_budget"] = bool(
            figures.get("run_seconds") is not None
            and figures["run_seconds"] <= REPORTS_BUDGET["run_seconds"]
            and figures["peak_mb"] <= REPORTS_BUDGET["peak_mb"]
        )
        runs[name] = figures
        print(f"  reports {name}: {json.dumps(figures, default=str)}", flush=True)
    return {"budget": REPORTS_BUDGET, **runs}


if __name__ == "__main__":
    sys.exit(main())
