"""`make bench`: MindPulse's benchmark, on loopback, with what production runs.

    .venv/bin/python -m bench.run [--runs 3] [--seconds 8] [--only predict,batch,...]

It creates its own Postgres database (bench_mindpulse, dropped at the end), migrates it,
loads 100,000 generated students and trains; then it starts gunicorn with the production
settings (DEBUG off, a generated SECRET_KEY, ALLOWED_HOSTS=127.0.0.1, plain http on loopback)
and a Celery worker on Redis db 5, runs bounded load with wrk, and stops everything it
started, also on Ctrl-C or a failure (every process in its own process group). Each figure is
the median of --runs runs, with the min-max spread; the machine and its load average are
recorded with them in bench/results/<date>.json and .md.

The seven measurements (issue 7) are steps; `--only` runs some of them (setup always runs):
train, model, reports, retrain, predict, batch, feedback.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from . import load, report, stats
from .procs import Processes, wait_http

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("train", "model", "reports", "retrain", "predict", "batch", "feedback")
# High enough never to refuse the benchmark's single client address, while every request
# still pays the throttle's Redis round trip, as in production.
UNLIMITED = "1000000000/second"


class Bench:
    """What the steps share: settings, the processes started, the web server, the results."""

    def __init__(self, args):
        self.args = args
        self.folder = Path(tempfile.mkdtemp(prefix="mindpulse-bench-"))
        self.procs = Processes(self.folder)
        self.python = sys.executable
        self.queue = f"bench-{secrets.token_hex(4)}"
        self.training_queue = f"{self.queue}-training"
        self.monitoring_queue = f"{self.queue}-monitoring"
        self.port = args.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.web = None
        self.web_config = None
        self.worker = None
        self.results: dict = {"steps": {}, "load_average": {}}
        base = args.postgres.rstrip("/")
        self.admin_url = f"{base}/postgres"
        self.database_url = f"{base}/{args.database}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mindpulse.settings.main",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            # Plain http on loopback: the documented switches of the HTTPS defaults.
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": args.redis,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "CELERY_TRAINING_QUEUE": self.training_queue,
            "CELERY_MONITORING_QUEUE": self.monitoring_queue,
            "VAR_DIR": str(self.folder / "var"),
            "ARTIFACTS_DIR": str(self.folder / "artifacts"),
            "REPORTS_DIR": str(self.folder / "reports"),
            "ARCHIVE_DIR": str(self.folder / "archive"),
            "THROTTLE_PREDICT": UNLIMITED,
            "THROTTLE_BATCH": UNLIMITED,
            "THROTTLE_FEEDBACK": UNLIMITED,
            "THROTTLE_HEALTH": UNLIMITED,
            # The feedback step posts thousands of feedbacks: without this, each one past
            # RETRAIN_THRESHOLD would queue a retrain check. Retraining is step 7's business.
            "RETRAIN_THRESHOLD": str(10**9),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    # --- child processes ----------------------------------------------------------------------
    def manage(self, *args: str, measured: bool = False) -> dict:
        command = [self.python, "manage.py", *args]
        result = stats.run_peak(command, env=self.env, cwd=ROOT)
        if result["returncode"] != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result['output'][-3000:]}")
        return result

    def child(self, *args: str) -> dict:
        result = stats.run_peak(
            [self.python, "-m", "bench.children", *args], env=self.env, cwd=ROOT
        )
        if result["returncode"] != 0:
            raise RuntimeError(f"bench.children {args} failed:\n{result['output'][-3000:]}")
        return {**json.loads(result["output"].strip().splitlines()[-1]), "_run": result}

    def start_web(self, config: str) -> None:
        """gunicorn with `config`: "W" is W sync workers, "WxT" W gthread workers of T threads."""
        if self.web_config == config and self.web.poll() is None:
            return
        self.stop_web()
        workers, _, threads = config.partition("x")
        # Exactly the command line that Docker, docker-compose and `manage.py serve` run
        # (ops/gunicorn.conf.py); only the worker and thread counts under comparison differ.
        from mindpulse.management.commands.serve import web_command

        args = web_command(bin_dir=str(Path(self.python).parent), host="127.0.0.1", port=self.port)
        env = {**self.env, "WEB_WORKERS": str(int(workers)), "WEB_THREADS": str(int(threads or 1))}
        self.web = self.procs.start("gunicorn", args, env=env, cwd=ROOT)
        self.web_config = config
        try:
            wait_http(f"{self.url}/api/health", process=self.web)
        except Exception:
            print(self.procs.log_tail("gunicorn"), file=sys.stderr)
            raise
        # Every worker loads the model and opens its connections before anything is timed.
        load.run(self.api("predict"), self.lines("predict"), connections=16, seconds=3)

    def stop_web(self) -> None:
        if self.web is not None:
            self.procs.stop(self.web)
            self.web = None
            self.web_config = None

    def start_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            return
        args = [
            str(Path(self.python).with_name("celery")),
            *("-A", "mindpulse", "worker", "--loglevel=INFO", "--concurrency=1"),
            "-Q",
            f"{self.queue},{self.training_queue},{self.monitoring_queue}",
            *("--without-gossip", "--without-mingle"),
        ]
        self.worker = self.procs.start("worker", args, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + 90
        while "ready." not in self.procs.log_tail("worker", 200):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker not ready:\n{self.procs.log_tail('worker')}")
            time.sleep(0.3)

    # --- helpers for the steps ----------------------------------------------------------------
    def api(self, name: str) -> str:
        return {
            "predict": f"{self.url}/api/predict",
            "batch": f"{self.url}/api/predict/batch",
            "feedback": f"{self.url}/api/feedback",
        }[name]

    def lines(self, name: str) -> Path:
        return self.folder / f"{name}.jsonl"

    def record(self, step: str, value) -> None:
        self.results["steps"][step] = value
        self.save(partial=True)

    def save(self, partial: bool = False) -> tuple[Path, Path]:
        self.results["finished"] = not partial
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = self.results["started_at"].replace(":", "").replace("-", "")[:15]
        suffix = ".tmp" if partial else ""
        json_path = out / f"{stamp}.json{suffix}"
        md_path = out / f"{stamp}.md{suffix}"
        json_path.write_text(json.dumps(self.results, indent=2, default=str) + "\n")
        md_path.write_text(report.markdown(self.results))
        return json_path, md_path

    def close(self) -> None:
        self.procs.stop_all()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 (Django may never have been set up)
            pass
        if not self.args.keep_db:
            from .data import drop_database

            try:
                drop_database(self.admin_url, self.args.database)
            except Exception as exc:  # reported, never hides the real error
                print(f"could not drop {self.args.database}: {exc}", file=sys.stderr)
        if self.args.keep_folder:
            print(f"kept {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


def setup(bench: Bench) -> None:
    from .data import create_database

    started = time.perf_counter()
    create_database(bench.admin_url, bench.args.database)
    bench.manage("migrate", "--noinput")
    migrated = time.perf_counter()
    bench.manage("generate_students", "--rows", str(bench.args.rows), "--seed", "1")
    loaded = time.perf_counter()
    os.environ.update(bench.env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from . import data

    data.write_lines(bench.lines("predict"), data.request_rows(data.student_rows(1000, seed=3)))
    bench.results["setup"] = {
        "migrate_seconds": migrated - started,
        "reference_rows": bench.args.rows,
        "generate_seconds": loaded - migrated,
    }


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median, spread)")
    parser.add_argument("--seconds", type=float, default=8, help="length of each wrk run")
    parser.add_argument("--rows", type=int, default=100_000, help="reference rows")
    parser.add_argument("--only", default=",".join(STEPS), help="steps, comma-separated")
    parser.add_argument(
        "--configs",
        default="4x2,4,2x4",
        help="gunicorn configurations to compare in the predict step: W (W sync workers) or "
        "WxT (W gthread workers of T threads); the first one serves every other step",
    )
    parser.add_argument(
        "--feedback-levels",
        default="0,100000,1000000",
        help="feedback rows stored before each feedback measurement",
    )
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bench_mindpulse")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--keep-folder", action="store_true", help="keep logs and artifacts")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose among {', '.join(STEPS)}")
    load.ensure_wrk()

    from . import offline, web

    bench = Bench(args)
    # `kill` (SIGTERM) stops the benchmark like Ctrl-C: through the finally below.
    signal.signal(signal.SIGTERM, _interrupt)
    bench.results.update(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=stats.machine(),
        command="make bench" + (f' BENCH_ARGS="{" ".join(given)}"' if given else ""),
        settings={
            "runs": args.runs,
            "wrk_seconds": args.seconds,
            "gunicorn_configs": args.configs,
            "feedback_levels": args.feedback_levels,
        },
    )
    functions = {
        "train": offline.train,
        "model": offline.model,
        "reports": offline.reports,
        "retrain": web.retrain,
        "predict": web.predict,
        "batch": web.batch,
        "feedback": web.feedback,
    }
    status = 0
    try:
        bench.results["load_average"]["start"] = stats.load_average()
        setup(bench)
        if "train" not in steps:
            bench.manage("train")  # the other steps need a model in service
        for step in STEPS:
            if step not in steps:
                continue
            print(f"== {step} (load average {stats.load_average()})", flush=True)
            before = stats.load_average()
            started = time.perf_counter()
            functions[step](bench)
            bench.results["load_average"][step] = {"before": before, "after": stats.load_average()}
            print(f"   {step} done in {time.perf_counter() - started:.0f} s", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the benchmark started", file=sys.stderr)
        status = 130
    except Exception:
        traceback.print_exc()
        print(f"logs: {bench.folder} (kept)", file=sys.stderr)
        bench.args.keep_folder = True
        status = 1
    finally:
        bench.results["load_average"]["end"] = stats.load_average()
        bench.close()
    if status == 0:
        json_path, md_path = bench.save()
        for path in Path(args.out).glob("*.tmp"):
            path.unlink()
        print(report.markdown(bench.results))
        print(f"written: {json_path} and {md_path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
