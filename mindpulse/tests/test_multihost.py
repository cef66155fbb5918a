"""Several hosts sharing nothing but Postgres and Redis (issue 15, item 5).

Two web hosts and one worker host, each in a network namespace of its own with its own EMPTY
local folders, behind haproxy on a namespace address (mindpulse/tests/netns.py builds the
network and tears it down). The web hosts run the shipped gunicorn command line
(`manage.py serve`'s, ops/gunicorn.conf.py); the worker host runs the shipped Celery worker
command on this test's queues. Postgres and Redis are reached through a TCP forwarder on the
root namespace's bridge address: nothing leaves the namespaces and loopback.

Checked, in this order (one test: starting the hosts is most of its time):
1. a prediction made through host A is fed back through host B;
2. a report made on the worker host opens from both web hosts;
3. a retrain promoted on the worker host is served by every process of both web hosts within
   ACTIVE_MODEL_CHECK_SECONDS + the load time each logged;
4. killing web host A under load loses no answered prediction and the balancer keeps
   answering from B.

Skipped only where network namespaces cannot be made (not root, no iproute2 or haproxy);
MINDPULSE_REQUIRE_SERVICES=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection

from mindpulse.management.commands.serve import process_commands, web_command
from mindpulse.testing import SAMPLE_FEATURES
from monitoring import selectors
from monitoring import tasks as monitoring_tasks
from monitoring.models import MonitoringRun
from predictions.models import Feedback, Prediction
from training import retrain
from training.models import ActivationEvent, RetrainRun
from training.tests.conftest import add_labelled, add_predictions, weak_champion  # noqa: F401 (a fixture)

from . import netns
from .live import admin_login, cookie, database_url, request, require

pytestmark = [
    pytest.mark.multihost,
    pytest.mark.worker,
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
]

# Ports inside the namespaces (and on the root's bridge address, for the forwarder).
BALANCER_PORT, WEB_PORT, POSTGRES_PORT, REDIS_PORT = 18600, 18610, 18601, 18602
WEB_WORKERS = 2  # per web host (ops/gunicorn.conf.py reads WEB_WORKERS and WEB_THREADS)
CHECK_SECONDS = 1.0  # ACTIVE_MODEL_CHECK_SECONDS of the web hosts
SWAPPED = re.compile(
    r"^(\S+) INFO training\.serving model_swapped version=(\d+) load_seconds=(\S+)"
)


@dataclass
class Cluster:
    network: netns.Network
    hosts: dict[str, netns.Host]
    folders: dict[str, Path]
    logs: dict[str, Path]
    balancer: str  # http://address:port of haproxy
    web: dict[str, str] = field(default_factory=dict)  # web host name -> its own base URL

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def logs_text(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-3000:]}" for name in self.logs)


def _service_url(url: str, host: str, port: int) -> str:
    """`url` with its host and port replaced (credentials, path and query kept)."""
    parts = urllib.parse.urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _host_env(settings, folder: Path, *, db_url: str, broker_url: str, queues: dict, names: str):
    """What one host is given: the shared database, broker and secret, and its own folders."""
    dirs = {
        f"{kind.upper().replace('-', '_')}_DIR": folder / kind
        for kind in ("artifacts", "reports", "archive", "exports", "model-cache", "var")
    }
    for path in dirs.values():
        path.mkdir(parents=True)
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "OMP_WAIT_POLICY": "PASSIVE",
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,  # sessions and CSRF tokens work on every host
        "BACKUP_ENCRYPTION_KEY": "",
        "DATABASE_URL": db_url,
        "STORAGE_BACKEND": "postgres",  # model files, reports and archives in the database
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": queues["default"],
        "CELERY_TRAINING_QUEUE": queues["training"],
        "CELERY_MONITORING_QUEUE": queues["monitoring"],
        "ALLOWED_HOSTS": names,  # the balancer's and the web hosts' addresses
        "NUM_PROXIES": "1",
        "ACTIVE_MODEL_CHECK_SECONDS": str(CHECK_SECONDS),
        "MODEL_LOAD_IN_BACKGROUND": "true",  # the production default
        "RETRAIN_THRESHOLD": "1000000",  # no feedback-triggered retrain in the middle
        "WEB_WORKERS": str(WEB_WORKERS),
        "WEB_THREADS": "2",
        **{key: str(path) for key, path in dirs.items()},
    }


def _wait(condition, *, timeout: float, what: str, cluster: Cluster | None = None, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    logs = cluster.logs_text() if cluster else ""
    raise AssertionError(f"{what}: not after {timeout:.0f}s\n{logs}")


def _exited(host: netns.Host, cluster: Cluster) -> bool:
    if any(process.poll() is not None for process in host.processes):
        raise AssertionError(f"host {host.name} exited\n{cluster.logs_text()}")
    return False


def _healthy(url: str) -> bool:
    try:
        return request(url + "/api/health", timeout=3).status == 200
    except OSError:
        return False


@pytest.fixture
def cluster(settings, celery_queues, tmp_path):
    require(connection.vendor == "postgresql", "the hosts share the test database: Postgres only")
    broker = settings.CELERY_BROKER_URL
    require(broker.startswith("redis://"), "the hosts share the broker: CELERY_BROKER_URL=redis://")
    reason = netns.unavailable_reason()
    require(reason is None, f"multi-host test: {reason}")

    pg, redis = connection.settings_dict, urllib.parse.urlsplit(broker)
    with ExitStack() as stack:
        network = stack.enter_context(netns.Network())
        gateway = network.gateway
        forwarder = netns.start_haproxy(
            netns.forwarder_config(
                {
                    "postgres": (
                        gateway,
                        POSTGRES_PORT,
                        pg["HOST"] or "127.0.0.1",
                        int(pg["PORT"] or 5432),
                    ),
                    "redis": (gateway, REDIS_PORT, redis.hostname, redis.port or 6379),
                }
            ),
            tmp_path,
            "forwarder",
        )
        stack.callback(forwarder.stop)
        # The hosts stop first, while they still reach Postgres and Redis (a Celery worker's
        # warm shutdown talks to the broker).
        stack.callback(network.stop_hosts)
        hosts = {name: network.add_host(name) for name in ("a", "b", "worker", "lb")}
        shared = {
            "db_url": database_url(pg, host=gateway, port=POSTGRES_PORT),
            "broker_url": _service_url(broker, gateway, REDIS_PORT),
            "queues": celery_queues,
            "names": ",".join(hosts[name].address for name in ("lb", "a", "b")),
        }
        folders = {name: tmp_path / "hosts" / name for name in ("a", "b", "worker")}
        logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "worker", "lb")}
        cluster = Cluster(
            network, hosts, folders, logs, f"http://{hosts['lb'].address}:{BALANCER_PORT}"
        )
        bin_dir = str(Path(sys.executable).parent)
        for name in ("a", "b"):
            host = hosts[name]
            env = _host_env(settings, folders[name], **shared)
            host.start(
                web_command(bin_dir=bin_dir, host=host.address, port=WEB_PORT),
                env=env,
                cwd=django_settings.BASE_DIR,
                log=logs[name],
            )
            cluster.web[name] = f"http://{host.address}:{WEB_PORT}"
        worker_env = _host_env(settings, folders["worker"], **shared)
        worker = process_commands(bin_dir=bin_dir, host="", port=0, beat_schedule="")["worker"]
        hosts["worker"].start(
            [*worker, "--without-gossip", "--without-mingle", "--hostname=worker@multihost"],
            env=worker_env,
            cwd=django_settings.BASE_DIR,
            log=logs["worker"],
        )
        netns.start_haproxy(
            netns.balancer_config(
                bind=hosts["lb"].address,
                port=BALANCER_PORT,
                servers={name: f"{hosts[name].address}:{WEB_PORT}" for name in ("a", "b")},
                host_header=hosts["lb"].address,
            ),
            tmp_path,
            "lb",
            host=hosts["lb"],
        )
        for host in hosts.values():
            # No default route: a host reaches the bridge's addresses and nothing else.
            assert host.routes() == [f"{network.subnet} dev eth0"], host.routes()
        for name, url in cluster.web.items():
            _wait(
                lambda u=url, h=hosts[name]: _healthy(u) or _exited(h, cluster),
                timeout=120,
                what=f"web host {name} healthy (GET /api/health: 200)",
                cluster=cluster,
            )
        _wait(
            lambda: "ready." in cluster.log("worker"),
            timeout=120,
            what="worker host",
            cluster=cluster,
        )
        yield cluster


def test_it_serves_from_several_hosts_sharing_only_postgres_and_redis(
    database_storages,
    weak_champion,  # noqa: F811 (the fixture imported above)
    reference_data,
    cluster,
):
    """Files in the database (STORAGE_BACKEND=postgres), here and on every host. The model is in
    service before the hosts start: each must answer /api/health with 200 (database, broker and
    the model, read from the database storage) to be ready."""
    _check_feedback_across_hosts(cluster)
    _check_report_opens_on_both_web_hosts(cluster)
    _check_promotion_served_by_both_web_hosts(cluster, weak_champion)
    _check_killing_a_web_host_loses_nothing(cluster)
    # No host wrote a model file, report or archive to its own folders.
    for name, folder in cluster.folders.items():
        for kind in ("artifacts", "reports", "archive"):
            assert not any((folder / kind).iterdir()), f"{name}'s {kind} folder holds files"
    # The web hosts keep the verified model files they fetched, by hash, in their own cache.
    for name in cluster.web:
        assert any((cluster.folders[name] / "model-cache").iterdir()), name


def _predict(base_url: str, **extra):
    return request(base_url + "/api/predict", method="POST", json_body={**SAMPLE_FEATURES, **extra})


def _check_feedback_across_hosts(cluster: Cluster) -> None:
    made = _predict(cluster.web["a"])
    assert made.status == 200, made.text
    prediction_id = made.json()["prediction_id"]
    fed = request(
        cluster.web["b"] + "/api/feedback",
        method="POST",
        json_body={"prediction_id": prediction_id, "actual": 1},
    )
    assert fed.status == 201, fed.text
    feedback = Feedback.objects.get(prediction_id=prediction_id)
    assert feedback.actual is True
    # The same prediction cannot be fed back twice, whichever host is asked.
    again = request(
        cluster.web["a"] + "/api/feedback",
        method="POST",
        json_body={"prediction_id": prediction_id, "actual": 0},
    )
    assert again.status == 409, again.text


def _check_report_opens_on_both_web_hosts(cluster: Cluster) -> None:
    add_predictions(150, seed=91)  # the reports' window (no labels: see the promotion)
    result = monitoring_tasks.run_reports.delay()
    run = _wait(
        lambda: (
            MonitoringRun.objects.filter(task_id=result.id)
            .exclude(status=MonitoringRun.Status.RUNNING)
            .first()
        ),
        timeout=180,
        what="the report run on the worker host",
        cluster=cluster,
        every=0.5,
    )
    assert run.status == MonitoringRun.Status.OK, run.error
    reports = list(run.reports.exclude(html_path=""))
    assert reports, "the run wrote no report file"

    password = "multi-host-staff-password"
    get_user_model().objects.create_superuser("multihost", "multihost@example.org", password)
    # Signed in through the balancer: the session (in Postgres) opens pages on any host.
    session = admin_login(cluster.balancer, "multihost", password)
    headers = {"Cookie": f"sessionid={cookie(session, 'sessionid')}"}
    for report in reports:
        path = f"/admin/monitoring/monitoringreport/{report.pk}/report/html/"
        bodies = {}
        for name, url in cluster.web.items():
            reply = request(url + path, headers=headers)
            assert reply.status == 200, f"report {report.pk} on host {name}: {reply.status}"
            bodies[name] = reply.body
        assert bodies["a"] == bodies["b"] == _report_bytes(report)
    # Nothing of it is in the web hosts' own folders: they read it from the shared storage.
    for name in ("a", "b"):
        assert not any((cluster.folders[name] / "reports").iterdir())


def _report_bytes(report) -> bytes:
    """The report file as the worker host stored it, read here from the database storage."""
    with selectors.report_file(report) as handle:
        return handle.read()


def _check_promotion_served_by_both_web_hosts(cluster: Cluster, champion) -> None:
    # The labels of training/tests/test_retrain_run.py's promotion: a challenger trained on
    # them beats the weak champion by more than the gate's interval.
    add_labelled(120, seed=21)
    served: dict[str, list[tuple[float, float, int]]] = {name: [] for name in cluster.web}
    stop = threading.Event()

    def poll(name: str) -> None:
        # "store": false: answers carry the serving version and store nothing.
        while not stop.is_set():
            sent = time.time()
            reply = _predict(cluster.web[name], store=False)
            if reply.status == 200:
                served[name].append((sent, time.time(), reply.json()["model_version"]))

    pollers = [
        threading.Thread(target=poll, args=(name,), daemon=True)
        for name in cluster.web
        for _ in range(2)
    ]
    for thread in pollers:
        thread.start()
    try:
        queued = retrain.retrain_request(note="multi-host")
        run = _wait(
            lambda: (
                (r := RetrainRun.objects.get(pk=queued.pk)).decision
                in ("promoted", "rejected", "failed")
                and r
            ),
            timeout=240,
            what="the retrain on the worker host",
            cluster=cluster,
            every=0.5,
        )
        assert run.decision == "promoted", f"{run.decision}: {run.reason} {run.error}"
        new = run.new_version.version
        assert new != champion.version

        def every_process_swapped() -> bool:
            return all(len(_swaps(cluster.log(name), new)) >= WEB_WORKERS for name in cluster.web)

        _wait(
            every_process_swapped, timeout=60, what=f"v{new} on every web process", cluster=cluster
        )
        checked_from = time.time()
        _wait(
            lambda: all(
                sum(1 for sent, _, _ in served[name] if sent > checked_from) >= 20
                for name in cluster.web
            ),
            timeout=60,
            what="20 more answers from each web host",
            cluster=cluster,
        )
    finally:
        stop.set()
        for thread in pollers:
            thread.join(timeout=30)

    activated = ActivationEvent.objects.filter(version=run.new_version).get().created_at.timestamp()
    for name in cluster.web:
        later = [version for sent, _, version in served[name] if sent > checked_from]
        assert set(later) == {new}, f"host {name} still answered with {Counter(later)}"
        swaps = _swaps(cluster.log(name), new)
        slowest_answer = max(received - sent for sent, received, _ in served[name])
        for swapped_at, load_seconds in swaps:
            # The process noticed the activation at its first request after its last check
            # (every CHECK_SECONDS), then loaded for load_seconds: allow one answer's time for
            # the request that notices it.
            budget = CHECK_SECONDS + load_seconds + slowest_answer + 0.5
            assert swapped_at - activated <= budget, (
                f"host {name}: v{new} in service {swapped_at - activated:.2f}s after its "
                f"activation, budget {budget:.2f}s"
            )


def _swaps(log: str, version: int) -> list[tuple[float, float]]:
    """(time, load seconds) of each `model_swapped` line of `version` in a web host's log."""
    found = []
    for line in log.splitlines():
        match = SWAPPED.match(line)
        if match and int(match[2]) == version:
            moment = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            found.append((moment.timestamp(), float(match[3])))
    return found


def _refuses(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:
        pass
    return False


def _header(reply, name: str) -> str | None:
    # haproxy sends header names in lower case (HTTP/1.1 names are case-insensitive).
    return {key.lower(): value for key, value in reply.headers.items()}.get(name.lower())


def _check_killing_a_web_host_loses_nothing(cluster: Cluster) -> None:
    clients = 4
    answers: list[tuple[float, int, str | None, str | None]] = []  # sent, status, host, id
    failures: list[tuple[float, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            sent = time.time()
            try:
                reply = _predict(cluster.balancer)
            except OSError as exc:
                with lock:
                    failures.append((sent, f"{type(exc).__name__}: {exc}"))
                continue
            ident = reply.json().get("prediction_id") if reply.status == 200 else None
            with lock:
                answers.append((sent, reply.status, _header(reply, "X-MindPulse-Host"), ident))

    def served_by(name: str, since: float = 0.0) -> int:
        with lock:
            return sum(1 for s, status, host, _ in answers if host == name and s > since)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        _wait(
            lambda: served_by("a") >= 20 and served_by("b") >= 20,
            timeout=60,
            what="both web hosts answering through the balancer",
            cluster=cluster,
        )
        killed_at = time.time()
        cluster.hosts["a"].kill()
        assert not cluster.hosts["a"].pids()
        # A process leaves `ip netns pids` before its sockets are closed (its memory is freed
        # first): A is dead once its port refuses connections.
        _wait(
            lambda: _refuses(cluster.hosts["a"].address, WEB_PORT),
            timeout=30,
            what="A's port closed",
            every=0.01,
        )
        dead_at = time.time()  # from here on, no process of A holds a request
        _wait(
            lambda: served_by("b", killed_at + 2) >= 50, timeout=60, what="B alone", cluster=cluster
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    answered = [ident for _, status, _, ident in answers if status == 200]
    assert all(answered)
    stored = {
        str(pk) for pk in Prediction.objects.filter(pk__in=answered).values_list("pk", flat=True)
    }
    assert stored == set(answered), f"{len(set(answered) - stored)} answered predictions lost"
    # Only requests that A had received may fail (a 502 from the balancer: it does not replay
    # a request a server may have acted on). Everything sent once A was dead is answered, by B.
    refused = [(s, status, host) for s, status, host, _ in answers if status != 200]
    late = [round(s - dead_at, 3) for s, *_ in refused + failures if s >= dead_at]
    assert not late, (
        f"{len(late)} requests sent {late}s after A was dead failed "
        f"(killed in {dead_at - killed_at:.2f}s): {refused[:5]} {failures[:5]}"
    )
    after = [host for s, status, host, _ in answers if s > killed_at + 2]
    assert set(after) == {"b"}, Counter(after)
