"""Fixtures shared by every app's tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    """Every test writes model files, reports and archives under its own folder."""
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.REPORTS_DIR = tmp_path / "reports"
    settings.ARCHIVE_DIR = tmp_path / "archive"
    settings.EXPORTS_DIR = tmp_path / "exports"
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    settings.ACTIVE_MODEL_CHECK_SECONDS = 0
    from training import serving

    serving.reset_cache()
    yield
    serving.reset_cache()


@pytest.fixture(scope="session")
def trained_outcome():
    """Three candidates trained once per session on 3,000 generated rows (pure, no database)."""
    from training import datagen, pipeline

    frame = datagen.generate_students(3000, seed=7)
    return pipeline.train_candidates(frame, seed=42, metric="roc_auc", n_jobs=1)


DATABASE_STORAGES = {
    alias: {"BACKEND": "filestore.postgres.PostgresBlobStorage", "OPTIONS": {"namespace": alias}}
    for alias in ("artifacts", "reports", "archive")
}


@pytest.fixture
def database_storages(settings):
    """Model files, reports and archives in the database (STORAGE_BACKEND=postgres); the
    local folders stay empty. Worker processes started by start_worker() follow."""
    settings.STORAGE_BACKEND = "postgres"
    settings.STORAGES = {**settings.STORAGES, **DATABASE_STORAGES}


@pytest.fixture
def reference_data(db):
    """A small generated reference dataset in the database."""
    from training import services

    dataset, _ = services.dataset_generate(rows=3000, seed=7)
    return dataset


def _registration_settings(settings) -> tuple:
    return (settings.TRAINING_SEED, settings.MODEL_SELECTION_METRIC)


@pytest.fixture(scope="session")
def _registered_once(trained_outcome, tmp_path_factory, django_db_setup, django_db_blocker):
    """model_register(trained_outcome) run once per session: the row's field values and the
    two files it wrote. Registering costs about 0.6 CPU-second (bootstrap intervals, group
    table, artifact and reference files); hundreds of tests only need its result."""
    from django.conf import settings
    from django.db import transaction
    from django.test import override_settings

    from training import services
    from training.models import ModelVersion

    directory = tmp_path_factory.mktemp("registered")

    class _RollBack(Exception):
        pass

    with django_db_blocker.unblock(), override_settings(ARTIFACTS_DIR=directory):
        try:
            with transaction.atomic():
                version = services.model_register(trained_outcome)
                fields = {
                    f.attname: getattr(version, f.attname)
                    for f in ModelVersion._meta.concrete_fields
                    if not f.primary_key
                }
                raise _RollBack
        except _RollBack:
            pass
        return fields, sorted(directory.iterdir()), _registration_settings(settings)


@pytest.fixture
def active_model(db, trained_outcome, _registered_once, settings):
    """A registered, active model version (its artifact under the test's folder).

    The same row and files model_register(trained_outcome) makes, copied from the session's
    one registration; registered for real when the test already holds versions or changed a
    setting the registration reads."""
    from filestore import files as storages
    from training import services
    from training.models import ModelVersion

    fields, files, registered_with = _registered_once
    if ModelVersion.objects.exists() or _registration_settings(settings) != registered_with:
        version = services.model_register(trained_outcome)
    else:
        # Through the artifacts storage, so that a test on the database backend has them too.
        for file in files:
            storages.save_path(storages.ARTIFACTS, file.name, file)
        version = ModelVersion.objects.create(**fields)
    return services.model_activate(version, reason="test fixture")


@pytest.fixture
def beat_rows(db):
    """django-celery-beat's rows of CELERY_BEAT_SCHEDULE, as beat writes them when it starts.

    No migrate creates them (mindpulse.beat); {entry name: PeriodicTask}.
    """
    from mindpulse.beat import rows_write

    return rows_write()


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s["PASSWORD"]:
        auth += f":{s['PASSWORD']}"
    host = f"{auth}@" if auth else ""
    return f"postgres://{host}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_queues(transactional_db, settings):
    """Queues of this test's own (training, monitoring, default), routed as in production."""
    from mindpulse.celery import app

    base = f"mindpulse-test-{uuid.uuid4().hex[:8]}"
    queues = {"default": base, "training": f"{base}-training", "monitoring": f"{base}-monitoring"}
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queues["default"]
    settings.CELERY_TASK_DEFAULT_QUEUE = queues["default"]
    settings.CELERY_TRAINING_QUEUE = queues["training"]
    settings.CELERY_MONITORING_QUEUE = queues["monitoring"]
    yield queues
    app.conf.task_default_queue = previous_queue


def start_worker(
    settings, queues: dict, consume: list[str], *, name: str = "worker", extra=(), folders=None
):
    """Start a real Celery worker process consuming the `consume` kinds of `queues`.

    The worker uses the test database, the test's storage backend and the test's artifact and
    report folders (or its own under `folders`, as another host would). Returns a
    WorkerHandle; stop() it.
    """
    base = Path(folders) if folders else None
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_DEFAULT_QUEUE": queues["default"],
        "CELERY_TRAINING_QUEUE": queues["training"],
        "CELERY_MONITORING_QUEUE": queues["monitoring"],
        "ARTIFACTS_DIR": str(base / "artifacts" if base else settings.ARTIFACTS_DIR),
        "REPORTS_DIR": str(base / "reports" if base else settings.REPORTS_DIR),
        "ARCHIVE_DIR": str(base / "archive" if base else settings.ARCHIVE_DIR),
        "EXPORTS_DIR": str(base / "exports" if base else settings.EXPORTS_DIR),
        "MODEL_CACHE_DIR": str(base / "model-cache" if base else settings.MODEL_CACHE_DIR),
        "STORAGE_BACKEND": settings.STORAGE_BACKEND,
        "SECRET_KEY": settings.SECRET_KEY,
    }
    log = settings.ARTIFACTS_DIR.parent / f"{name}.log"
    log_file = open(log, "wb")  # noqa: SIM115 - the child keeps its own descriptor
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mindpulse",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            ",".join(queues[kind] for kind in consume),
            "--without-gossip",
            "--without-mingle",
            f"--hostname={name}@%h",
            *extra,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log_file.close()
    worker = WorkerHandle(process, log)
    try:
        worker.wait_ready()
    except BaseException:
        worker.stop()
        raise
    return worker


@pytest.fixture
def celery_worker_process(celery_queues, settings):
    """A real Celery worker process on the configured broker, on all of this test's queues.

    Yields a handle whose wait_for() waits until the worker has consumed what the test queued.
    """
    worker = start_worker(settings, celery_queues, ["default", "training", "monitoring"])
    try:
        yield worker
    finally:
        worker.stop()


class WorkerHandle:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.output():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"Celery worker not ready after {timeout}s:\n{self.output()}")

    def wait_for(self, condition, timeout: float = 120, interval: float = 0.3):
        """Poll `condition()` until it returns a truthy value; fail with the worker's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited:\n{self.output()}")
            time.sleep(interval)
        raise TimeoutError(f"Condition not met after {timeout}s. Worker log:\n{self.output()}")

    def kill(self) -> None:
        """kill -9 the worker (and its children)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


# --- Every log line of the run, for privacy/tests/test_logs.py ---------------------------------

LOG_GREP_TEST = "test_it_logs_no_client_address_nor_answer_in_the_whole_run"


@pytest.fixture(autouse=True)
def _run_log():
    """Attached before each test: a test that reconfigures logging cannot drop it."""
    import logging

    from mindpulse.testing import RUN_LOG

    root = logging.getLogger()
    if RUN_LOG not in root.handlers:
        root.addHandler(RUN_LOG)


def pytest_collection_modifyitems(session, config, items):
    # The grep of the run's logs runs last, after everything else has logged.
    items.sort(key=lambda item: item.name == LOG_GREP_TEST)
