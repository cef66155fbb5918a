"""The whole loop with files in the database: a worker "host" with its own empty folders
trains, reports and archives; this process serves with its own empty folders.

Nothing is shared but Postgres and the broker, as between two machines.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import start_worker
from filestore import files
from filestore.models import BlobChunk, BlobName
from monitoring import tasks as monitoring_tasks
from monitoring.models import MonitoringRun
from training import retrain, serving
from training.models import ModelVersion, RetrainRun
from training.tests.conftest import add_labelled, student_rows

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _local_files(*folders: Path) -> list[str]:
    return sorted(str(p) for folder in folders if folder.exists() for p in folder.rglob("*"))


def _features():
    row = student_rows(1, seed=3)[0]
    return {k: v for k, v in row.items() if k != "Depression"}


@pytest.fixture
def worker_host(database_storages, celery_queues, settings, tmp_path):
    worker = start_worker(
        settings,
        celery_queues,
        ["default", "training", "monitoring"],
        name="worker-host",
        folders=tmp_path / "worker-host",
    )
    try:
        yield worker
    finally:
        worker.stop()


def test_it_runs_the_loop_with_files_in_the_database(
    worker_host, active_model, reference_data, client, admin_client, settings, tmp_path
):
    serving_folders = (settings.ARTIFACTS_DIR, settings.REPORTS_DIR, settings.ARCHIVE_DIR)
    # The model registered by this process went to the database, not to its folder.
    assert BlobName.objects.filter(namespace="artifacts", name=active_model.artifact_path).exists()

    # Serve: fetched from the database once, verified, cached by its hash.
    response = client.post("/api/predict", _features(), content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["model_version"] == active_model.version
    cached = settings.MODEL_CACHE_DIR / f"{active_model.artifact_sha256}.joblib"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == active_model.artifact_sha256

    # A second load (a restart) reads the cache, not the database's chunks.
    serving.reset_cache()
    with CaptureQueriesContext(connection) as queries:
        assert serving.get_active_model().version == active_model.version
    assert not [q for q in queries if "filestore_blobchunk" in q["sql"]]

    # A damaged cache file is refused and fetched again from the database.
    cached.write_bytes(b"not a model")
    serving.reset_cache()
    assert serving.get_active_model().version == active_model.version
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == active_model.artifact_sha256

    # Report on the worker host; open it here.
    add_labelled(300, seed=41)
    result = monitoring_tasks.run_reports.delay()
    run = worker_host.wait_for(
        lambda: (
            MonitoringRun.objects.filter(task_id=result.id)
            .exclude(status=MonitoringRun.Status.RUNNING)
            .first()
        ),
        timeout=180,
    )
    assert run.status == MonitoringRun.Status.OK, run.error
    reports = [r for r in run.reports.all() if r.html_path]
    assert reports, [(r.kind, r.status, r.reason) for r in run.reports.all()]
    for report in reports:
        url = reverse("admin:monitoring_monitoringreport_html", args=[report.pk])
        response = admin_client.get(url)
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert b"<!DOCTYPE html>" in body[:200] and len(body) > 10_000
        assert body == files.read_bytes(files.REPORTS, report.html_path)

    # Retrain on the worker host: the new version and the archive go to the database.
    queued = retrain.retrain_request(note="database storage")
    done = worker_host.wait_for(
        lambda: (
            (r := RetrainRun.objects.get(pk=queued.pk)).decision
            in ("promoted", "rejected", "failed")
            and r
        ),
        timeout=300,
    )
    assert done.decision in ("promoted", "rejected"), done.error
    archive = pd.read_csv(io.BytesIO(files.read_bytes(files.ARCHIVE, done.archive_path)))
    assert len(archive) == done.rows_production == 300
    new = ModelVersion.objects.get(pk=done.new_version_id)
    assert files.sha256_of(files.ARTIFACTS, new.artifact_path) == new.artifact_sha256

    # Serve the new version (promoted, or put in service by hand when the gate kept the old).
    if done.decision == "rejected":
        from training import services

        services.model_activate(new, reason="test: serve the challenger")
    response = client.post("/api/predict", _features(), content_type="application/json")
    assert response.status_code == 200 and response.json()["model_version"] == new.version

    # Neither "host" wrote a file to its own folders; the database holds them all.
    worker_root = tmp_path / "worker-host"
    worker_folders = [worker_root / name for name in ("artifacts", "reports", "archive")]
    assert _local_files(*serving_folders, *worker_folders) == []
    assert BlobChunk.objects.exists()
