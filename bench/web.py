"""Steps under HTTP load: predict (1), batch (3), feedback (4), retrain under load (7)."""

from __future__ import annotations

import http.client
import json
import time
from datetime import timedelta

from . import data, load, procs
from .stats import summaries


def _configs(bench) -> list[str]:
    return [item.strip() for item in bench.args.configs.split(",") if item.strip()]


def _chosen(bench) -> str:
    return _configs(bench)[0]


def _count(model, **filters) -> int:
    return model.objects.filter(**filters).count()


def _server_connections() -> int:
    """Connections the web server and the worker hold open on the bench database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


class CpuMeter:
    """CPU time used during a wrk run by the web server, the bench database's Postgres
    backends, Redis and wrk itself, per request (ms): what a request costs, and where."""

    KEYS = ("cpu_ms_web", "cpu_ms_postgres", "cpu_ms_redis", "cpu_ms_wrk", "cores_busy")

    def __init__(self, bench):
        self.bench = bench

    def _sample(self) -> dict:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "web": procs.cpu_seconds(procs.group_pids(self.bench.web.pid)),
            "postgres": procs.cpu_seconds(
                procs.named_pids("postgres", containing=self.bench.args.database)
            ),
            "redis": procs.cpu_seconds(procs.named_pids("redis-server")),
            "wrk": children.ru_utime + children.ru_stime,
            "wall": time.perf_counter(),
        }

    def __enter__(self):
        self.before = self._sample()
        return self

    def __exit__(self, *exc):
        self.after = self._sample()

    def per_request(self, requests: int) -> dict:
        if not requests:
            return {}
        used = {
            key: procs.cpu_used(self.before[key], self.after[key])
            for key in ("web", "postgres", "redis")
        }
        used["wrk"] = self.after["wrk"] - self.before["wrk"]
        wall = self.after["wall"] - self.before["wall"]
        figures = {f"cpu_ms_{key}": seconds * 1000 / requests for key, seconds in used.items()}
        figures["cores_busy"] = sum(used.values()) / wall
        return figures


# --- 1. POST /api/predict ---------------------------------------------------------------------


def predict(bench) -> None:
    from predictions.models import Prediction

    results = {}
    for config in _configs(bench):
        bench.start_web(config)
        levels = (1, 8, 32) if config == _chosen(bench) else (8, 32)
        by_level = {}
        for connections in levels:
            runs = []
            for _ in range(bench.args.runs):
                before = _count(Prediction, channel="api")
                started = time.time()
                with CpuMeter(bench) as cpu:
                    run = load.run(
                        bench.api("predict"),
                        bench.lines("predict"),
                        connections=connections,
                        seconds=bench.args.seconds,
                    )
                run.update(cpu.per_request(run["requests"]))
                time.sleep(0.5)  # the last in-flight requests commit
                stored = _count(Prediction, channel="api") - before
                run["rows_stored"] = stored
                # wrk counts the answers it read before it stopped; the requests still in
                # flight then are answered and stored too, uncounted. A lost prediction would
                # make `stored` smaller than the 2xx answers.
                ok = run["requests"] - run["non_2xx"]
                run["every_prediction_stored"] = stored >= ok
                run["stored_uncounted"] = stored - ok
                run["server_connections"] = _server_connections()
                if connections == 1:
                    run["app_latency_p50_ms"] = _app_latency(started)
                runs.append(run)
            keys = ("rps", "p50_ms", "p90_ms", "p99_ms", "app_latency_p50_ms", *CpuMeter.KEYS)
            by_level[str(connections)] = {
                **summaries(runs, keys),
                "requests": sum(r["requests"] for r in runs),
                "non_2xx": sum(r["non_2xx"] + r["socket_errors"] for r in runs),
                "every_prediction_stored": all(r["every_prediction_stored"] for r in runs),
                "server_connections": max(r["server_connections"] for r in runs),
                "detail": runs,
            }
        results[config] = by_level
    bench.start_web(_chosen(bench))
    bench.record("predict", {"chosen": _chosen(bench), "configs": results})


def _app_latency(since: float) -> float | None:
    """Median latency_ms stored by the app (validation + model, before the INSERT)."""
    from datetime import UTC, datetime

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) "
            "FROM predictions_prediction WHERE channel = 'api' AND created_at >= %s",
            [datetime.fromtimestamp(since, UTC)],
        )
        return cursor.fetchone()[0]


# --- 3. POST /api/predict/batch ---------------------------------------------------------------


def batch(bench) -> None:
    from predictions.models import Prediction

    bench.start_web(_chosen(bench))
    frame = data.student_rows(10_000, seed=5)
    rows = data.request_rows(frame)
    body = json.dumps(rows).encode()
    runs = []
    for _ in range(bench.args.runs):
        before = _count(Prediction, channel="batch")
        started = time.perf_counter()
        status, answer = _post(bench, "/api/predict/batch", body)
        seconds = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"batch answered {status}: {answer[:500]}")
        scored = json.loads(answer)["scored"]
        stored = _count(Prediction, channel="batch") - before
        runs.append(
            {
                "seconds": seconds,
                "rows_per_second": len(rows) / seconds,
                "scored": scored,
                "rows_stored": stored,
            }
        )
    figures = summaries(runs, ("seconds", "rows_per_second"))
    figures["rows"] = len(rows)
    figures["detail"] = runs
    figures["request_mb"] = len(body) / 1e6
    figures["all_rows_stored"] = all(r["rows_stored"] == r["scored"] == len(rows) for r in runs)
    bench.record("batch", figures)


def _post(bench, path: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", bench.port, timeout=120)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- 4. POST /api/feedback at 0, 100,000 and 1,000,000 stored feedbacks -----------------------


def feedback(bench) -> None:
    from django.db import connection
    from django.utils import timezone

    from predictions import selectors
    from training import serving
    from training.models import RetrainRun

    bench.start_web(_chosen(bench))
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE predictions_feedback")
    history = RetrainRun.objects.create(
        trigger=RetrainRun.Trigger.SCHEDULED,
        decision=RetrainRun.Decision.REJECTED,
        reason="benchmark: the retrains that consumed the stored feedback",
        finished_at=timezone.now(),
    )
    loaded = serving.get_active_model()
    levels = {}
    seed = 100
    wanted = [int(level) for level in bench.args.feedback_levels.split(",")]
    for level in wanted:
        missing = level - selectors.feedback_count()
        started = time.perf_counter()
        while missing > 0:  # history: predictions of last month, their feedback consumed
            chunk = min(missing, 250_000)
            frame = data.student_rows(chunk, seed=seed)
            when = timezone.now() - timedelta(days=30)
            ids = data.copy_predictions(frame, loaded, created_at=when)
            data.copy_feedback(
                ids, data.labelled(frame), created_at=when, consumed_by_id=history.pk
            )
            missing -= chunk
            seed += 1
        fill_seconds = time.perf_counter() - started
        if fill_seconds > 0.01:
            with connection.cursor() as cursor:  # as autovacuum would have, in production
                cursor.execute("VACUUM ANALYZE predictions_feedback")
                cursor.execute("VACUUM ANALYZE predictions_prediction")
        stored = selectors.feedback_count()
        # A short run first, not measured: the new rows' pages and the plans come in cache.
        warm = _feedback_lines(bench, loaded, count=3000, seed=seed + 500)
        load.run(bench.api("feedback"), warm, connections=1, seconds=2, once=True)
        runs = []
        for _ in range(bench.args.runs):
            lines = _feedback_lines(bench, loaded, count=int(bench.args.seconds * 1500), seed=seed)
            seed += 1
            run = load.run(
                bench.api("feedback"), lines, connections=1, seconds=bench.args.seconds, once=True
            )
            runs.append(run)
        levels[str(level)] = {
            **summaries(runs, ("p50_ms", "p90_ms", "p99_ms", "rps")),
            "stored_before": stored,
            "fill_seconds": fill_seconds,
            "non_2xx": sum(r["non_2xx"] + r["socket_errors"] for r in runs),
            "detail": runs,
        }
    empty = levels[str(wanted[0])]["p50_ms"]["median"]
    full = levels[str(wanted[-1])]["p50_ms"]["median"]
    bench.record("feedback", {"levels": levels, "ratio_largest_to_first": full / empty})


def _feedback_lines(bench, loaded, *, count: int, seed: int):
    """`count` fresh predictions (no feedback yet) and a feedback body for each."""
    from django.utils import timezone

    frame = data.student_rows(count, seed=seed)
    ids = data.copy_predictions(frame, loaded, created_at=timezone.now(), channel="api")
    path = bench.folder / "feedback.jsonl"
    with open(path, "w") as out:
        for prediction_id, actual in zip(ids, data.labelled(frame), strict=True):
            out.write(json.dumps({"prediction_id": str(prediction_id), "actual": int(actual)}))
            out.write("\n")
    return path


# --- 7. A retrain while /api/predict is under load --------------------------------------------


def retrain(bench) -> None:
    from mindpulse.celery import app
    from predictions import services
    from training import task_names
    from training.models import RetrainRun

    bench.start_web(_chosen(bench))
    bench.start_worker()
    connections = 8
    runs = []
    for _ in range(bench.args.runs):
        quiet = load.run(
            bench.api("predict"),
            bench.lines("predict"),
            connections=connections,
            seconds=bench.args.seconds * 2,
        )
        last = RetrainRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        wrk = load.start(
            bench.api("predict"), bench.lines("predict"), connections=connections, seconds=900
        )
        try:
            time.sleep(1)
            app.send_task(
                task_names.RETRAIN, kwargs={"trigger": "manual"}, queue=bench.training_queue
            )
            run = _wait_retrain(bench, after=last)
            # The load goes on until every web process answers with the promoted version, so
            # that the p99 "during" covers the promotion too (loaded off the request path).
            served = _activation_delay(bench, run)
        finally:
            busy = load.stop(wrk)
        runs.append(
            {
                "p99_without_ms": quiet["p99_ms"],
                "p99_during_ms": busy["p99_ms"],
                "p50_without_ms": quiet["p50_ms"],
                "p50_during_ms": busy["p50_ms"],
                "rps_without": quiet["rps"],
                "rps_during": busy["rps"],
                "p99_ratio": busy["p99_ms"] / quiet["p99_ms"],
                "retrain_seconds": (run.finished_at - run.started_at).total_seconds(),
                "decision": run.decision,
                "rows_reference": run.rows_reference,
                "rows_production": run.rows_production,
                "non_2xx": busy["non_2xx"] + busy["socket_errors"],
                "activation_to_all_served_s": served,
            }
        )
        services.feedback_release(run)  # the same labelled rows for the next run
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    figures = summaries(runs, keys)
    figures["decisions"] = [r["decision"] for r in runs]
    figures["detail"] = runs
    figures["retrain_nice"] = _worker_nice(bench)
    figures["activation_limit_s"] = _activation_limit(bench)
    bench.record("retrain", figures)


def _activation_delay(bench, run, *, streak: int = 200, timeout: float = 120) -> float | None:
    """Seconds from the promotion's activation record until `streak` consecutive answers of
    /api/predict (spread by gunicorn over all its processes and threads) carry the new version;
    None when the retrain did not promote."""
    import json
    import urllib.request

    from django.utils import timezone

    from training.models import ActivationEvent

    if run.decision != "promoted" or run.new_version_id is None:
        return None
    event = ActivationEvent.objects.filter(version_id=run.new_version_id).order_by("pk").first()
    version = run.new_version.version
    body = bench.lines("predict").read_text().splitlines()[0].encode()
    in_a_row, deadline = 0, time.monotonic() + timeout
    first_of_streak = None
    while in_a_row < streak and time.monotonic() < deadline:
        request = urllib.request.Request(
            bench.api("predict"), data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            served = json.loads(answer.read())["model_version"]
        if served == version:
            first_of_streak = first_of_streak or timezone.now()
            in_a_row += 1
        else:
            in_a_row, first_of_streak = 0, None
    if in_a_row < streak:
        raise TimeoutError(f"version {version} not served by every process after {timeout} s")
    return max(0.0, (first_of_streak - event.created_at).total_seconds())


def _activation_limit(bench) -> float:
    """ACTIVE_MODEL_CHECK_SECONDS + the time one process takes to load the active version."""
    from django.conf import settings

    from training import serving
    from training.models import ModelVersion

    row = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    started = time.perf_counter()
    serving.load_version(row)
    return settings.ACTIVE_MODEL_CHECK_SECONDS + time.perf_counter() - started


def _wait_retrain(bench, *, after: int, timeout: float = 600):
    from training.models import RetrainRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = RetrainRun.objects.filter(pk__gt=after).order_by("-pk").first()
        if run is not None and run.decision not in ("queued", "running"):
            if run.decision == "failed":
                raise RuntimeError(f"the retrain failed: {run.reason} {run.error}")
            return run
        if bench.worker.poll() is not None:
            raise RuntimeError(f"the worker died:\n{bench.procs.log_tail('worker')}")
        time.sleep(0.25)
    raise TimeoutError(f"no retrain finished within {timeout:.0f} s")


def _worker_nice(bench) -> list[int]:
    """Nice values of the worker's processes after a retrain (RETRAIN_NICE at work)."""
    import os
    import subprocess

    found = subprocess.run(
        ["ps", "-o", "ni=", "-g", str(os.getpgid(bench.worker.pid))],
        capture_output=True,
        text=True,
        check=False,
    )
    return sorted({int(x) for x in found.stdout.split()})
