"""GET /metrics: access control, values equal to the database, and two gunicorn workers."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from mindpulse.metric_series import LATENCY_BUCKETS_MS
from mindpulse.testing import SAMPLE_FEATURES

BASE_DIR = Path(__file__).resolve().parents[2]
TOKEN = "test-metrics-token-0123456789abcdef"
FEATURES = SAMPLE_FEATURES
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text format -> {(name, labels): value}; fails on any malformed line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith(("# HELP ", "# TYPE ")):
            continue
        match = _SAMPLE.match(line)
        assert match, f"malformed line: {line!r}"
        name, labels, value = match.groups()
        key = (name, frozenset(_LABEL.findall(labels or "")))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(value)
    return samples


def families(text: str) -> set[str]:
    """Every series name the scrape can hold (a histogram's _bucket/_sum/_count included)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind in ("histogram", "summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def of(samples, name) -> dict[frozenset, float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def expected_from_database() -> dict:
    """The values /metrics must show, computed here independently of metric_series."""
    from predictions.models import Feedback, Prediction

    predictions = {
        frozenset(
            {
                ("channel", row["channel"]),
                ("outcome", "at_risk" if row["label"] else "not_at_risk"),
                ("model_version", str(row["model_version__version"])),
            }
        ): float(row["n"])
        for row in Prediction.objects.values("channel", "label", "model_version__version")
        .annotate(n=Count("pk"))
        .order_by()
    }
    latencies: dict[str, list[float]] = {}
    for channel, ms in Prediction.objects.exclude(latency_ms=None).values_list(
        "channel", "latency_ms"
    ):
        latencies.setdefault(channel, []).append(ms)
    buckets = {}
    for channel, values in latencies.items():
        for bound in LATENCY_BUCKETS_MS:
            le = repr(bound / 1000)
            buckets[frozenset({("channel", channel), ("le", le)})] = float(
                sum(v <= bound for v in values)
            )
        buckets[frozenset({("channel", channel), ("le", "+Inf")})] = float(len(values))
    feedback = {
        frozenset({("actual", str(int(a)))}): float(Feedback.objects.filter(actual=a).count())
        for a in (False, True)
    }
    total = Prediction.objects.count()
    return {
        "predictions": predictions,
        "buckets": buckets,
        "latency_sums": {c: sum(v) / 1000 for c, v in latencies.items()},
        "feedback": feedback,
        "share": Feedback.objects.count() / total if total else 0.0,
    }


def assert_matches_database(samples) -> None:
    expected = expected_from_database()
    assert of(samples, "mindpulse_predictions_total") == expected["predictions"]
    assert of(samples, "mindpulse_prediction_latency_seconds_bucket") == expected["buckets"]
    sums = of(samples, "mindpulse_prediction_latency_seconds_sum")
    for channel, value in expected["latency_sums"].items():
        assert sums[frozenset({("channel", channel)})] == pytest.approx(value, rel=1e-9)
    assert of(samples, "mindpulse_feedback_total") == expected["feedback"]
    (share,) = of(samples, "mindpulse_feedback_share").values()
    assert share == pytest.approx(expected["share"])


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_refuses_everyone_when_neither_a_token_nor_addresses_are_configured(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 403 and b"METRICS_TOKEN" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_it_requires_the_bearer_token(client, settings, header, status):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    else:
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("networks", "address", "status"),
    [
        (["127.0.0.0/8"], "127.0.0.1", 200),
        (["10.0.0.5"], "10.0.0.5", 200),
        (["10.0.0.0/8"], "::ffff:10.1.2.3", 200),
        (["10.0.0.0/8"], "192.168.1.9", 403),
        (["10.0.0.0/8"], "not-an-address", 403),
    ],
)
def test_it_lets_configured_addresses_in_without_a_token(
    client, settings, networks, address, status
):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network(n) for n in networks]
    response = client.get("/metrics", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="10.0.0.5")
    assert response.status_code == status


def test_it_refuses_a_bad_address_list_at_start_up(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from mindpulse.settings.env import env_networks

    monkeypatch.setenv("METRICS_ALLOWED_IPS", "10.0.0.0/8, example.org")
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_IPS"):
        env_networks("METRICS_ALLOWED_IPS")


@pytest.mark.django_db
def test_it_only_answers_get(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- Values ------------------------------------------------------------------------------------


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> str:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return response.content.decode()

    return get


def _monitoring_state(active_model):
    from django_celery_results.models import TaskResult

    from monitoring.models import Alert, MonitoringReport, MonitoringRun

    end = timezone.now()
    run = MonitoringRun.objects.create(status="ok", finished_at=end + timedelta(seconds=12))
    MonitoringRun.objects.filter(pk=run.pk).update(started_at=end)
    features = {
        "Age": {"method": "wasserstein", "score": 0.02, "threshold": 0.1, "drifted": False},
        "Stress_Level": {"method": "wasserstein", "score": 0.4, "threshold": 0.1, "drifted": True},
    }
    MonitoringReport.objects.create(
        run=run,
        kind="data_drift",
        status="ok",
        window_end=end,
        summary={"drift_share": 1 / 9, "dataset_drift": False, "features": features},
    )
    MonitoringReport.objects.create(
        run=run,
        kind="model_performance",
        status="ok",
        window_end=end,
        summary={"current": {"accuracy": 0.81, "f1": 0.62, "roc_auc": 0.88, "rows": 50}},
    )
    Alert.objects.create(kind="drift", severity="warning", message="m", dedup_key="drift")
    Alert.objects.create(
        kind="task_failed",
        severity="critical",
        message="m",
        dedup_key="task_failed:x",
        acknowledged_at=end,
        delivery={"webhook": {"status": "failed", "attempts": 6}},
    )
    started = end - timedelta(seconds=30)
    for task_id, status, seconds in (("t1", "SUCCESS", 2.5), ("t2", "FAILURE", 4.0)):
        TaskResult.objects.create(
            task_id=task_id, task_name="monitoring.tasks.run_reports", status=status
        )
        TaskResult.objects.filter(task_id=task_id).update(
            date_started=started, date_done=started + timedelta(seconds=seconds)
        )


def test_it_reports_values_equal_to_the_database(client, scrape, active_model):
    from predictions.models import Feedback
    from predictions.services import feedback_create, prediction_create_many

    ids = [
        client.post(
            "/api/predict", dict(FEATURES, Age=age), content_type="application/json"
        ).json()["prediction_id"]
        for age in (19, 21, 40)
    ]
    prediction_create_many([FEATURES, dict(FEATURES, Stress_Level=10)])
    feedback_create(prediction_id=ids[0], actual=True)
    _monitoring_state(active_model)

    text = scrape()
    samples = parse(text)
    assert_matches_database(samples)
    assert sum(of(samples, "mindpulse_predictions_total").values()) == 5
    assert of(samples, "mindpulse_feedback_unconsumed") == {
        frozenset(): float(Feedback.objects.count())
    }

    version = active_model.version
    assert samples[("mindpulse_active_model_version", frozenset())] == version
    info = of(samples, "mindpulse_active_model_info")
    assert {dict(k)["version"] for k in info} == {str(version)}
    test_metrics = of(samples, "mindpulse_active_model_test_metric")
    for metric in ("accuracy", "f1", "roc_auc"):
        key = frozenset({("metric", metric)})
        assert test_metrics[key] == pytest.approx(active_model.metrics[metric])

    assert samples[("mindpulse_drift_share", frozenset())] == pytest.approx(1 / 9)
    assert of(samples, "mindpulse_feature_drifted") == {
        frozenset({("feature", "Age")}): 0.0,
        frozenset({("feature", "Stress_Level")}): 1.0,
    }
    assert samples[("mindpulse_production_accuracy", frozenset())] == 0.81
    assert samples[("mindpulse_production_f1", frozenset())] == 0.62

    assert of(samples, "mindpulse_alerts_open") == {
        frozenset({("kind", "drift"), ("severity", "warning")}): 1.0,
        frozenset({("kind", "task_failed"), ("severity", "critical")}): 0.0,
    }
    assert (
        samples[
            (
                "mindpulse_alert_deliveries",
                frozenset({("channel", "webhook"), ("status", "failed")}),
            )
        ]
        == 1.0
    )
    task = {("task", "monitoring.tasks.run_reports")}
    durations = of(samples, "mindpulse_task_duration_seconds_sum")
    assert durations[frozenset(task | {("state", "SUCCESS")})] == pytest.approx(2.5)
    assert durations[frozenset(task | {("state", "FAILURE")})] == pytest.approx(4.0)
    assert of(samples, "mindpulse_monitoring_run_duration_seconds_sum") == {
        frozenset({("status", "ok")}): pytest.approx(12.0)
    }


@pytest.mark.django_db
def test_it_answers_with_empty_families_on_an_empty_database(scrape):
    samples = parse(scrape())
    assert of(samples, "mindpulse_predictions_total") == {}
    assert samples[("mindpulse_feedback_share", frozenset())] == 0.0


@pytest.mark.django_db
def test_the_grafana_dashboard_only_plots_series_that_exist(scrape):
    dashboard = json.loads((BASE_DIR / "ops" / "grafana-dashboard.json").read_text())
    available = families(scrape())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    assert len(exprs) >= 10
    used = {name for expr in exprs for name in re.findall(r"\bmindpulse_[a-z0-9_]+", expr)}
    assert used - available == set()
    assert {"mindpulse_predictions_total", "mindpulse_drift_share"} <= used


# --- Two gunicorn workers ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def gunicorn(transactional_db, settings, tmp_path):
    from conftest import _database_url

    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": _database_url(),
        "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
        "REPORTS_DIR": str(settings.REPORTS_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "mindpulse.wsgi", f"--bind=127.0.0.1:{port}"),
                # --preload: the app is imported once, then forked into two separate processes.
                *("--workers=2", "--timeout=60", "--preload"),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:  # a cheap answer (401: no token) once a worker accepts requests
                urllib.request.urlopen(f"{base}/metrics", timeout=30).close()
            except urllib.error.HTTPError as exc:
                assert exc.code == 401  # noqa: PT017 (a polling loop, not an expected raise)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield base, process, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _post(url: str, body, log: Path) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{url}: {exc.code} {exc.read()!r}\n{log.read_text()}") from None


def _scrape(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def test_its_counters_match_the_database_after_a_burst_on_two_gunicorn_workers(
    active_model, gunicorn
):
    from predictions.models import Feedback, Prediction

    base, process, log = gunicorn
    # The first worker may answer before the second has forked: wait for both (not a timing:
    # a bound on start-up, far above the normal second).
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_children(process.pid)) == 2
    rows = [dict(FEATURES, Age=18 + i % 25, Stress_Level=1 + i % 10) for i in range(60)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda row: _post(f"{base}/api/predict", row, log), rows))
        batch = pool.submit(_post, f"{base}/api/predict/batch", rows[:7], log).result()
        list(
            pool.map(
                lambda a: _post(
                    f"{base}/api/feedback", {"prediction_id": a["prediction_id"], "actual": 1}, log
                ),
                answers[:15],
            )
        )
    assert batch["scored"] == 7
    assert Prediction.objects.count() == 67 and Feedback.objects.count() == 15

    timing = "mindpulse_scrape_duration_seconds"
    scrapes = [parse(_scrape(base)) for _ in range(6)]  # answered by either worker
    for samples in scrapes:
        assert {k: v for k, v in samples.items() if k[0] != timing} == {
            k: v for k, v in scrapes[0].items() if k[0] != timing
        }
        assert_matches_database(samples)
        assert sum(of(samples, "mindpulse_predictions_total").values()) == 67
        assert of(samples, "mindpulse_feedback_total")[frozenset({("actual", "1")})] == 15
    # Each worker loaded the model for its first prediction: both answered the burst.
    loaded = [line for line in log.read_text().splitlines() if '"msg": "model_loaded' in line]
    assert len(loaded) == 2
