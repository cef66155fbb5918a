"""manage.py backup / restore: the round trip into an empty database, and every refusal.

The suite runs on SQLite and on Postgres; these tests exercise whichever is configured. The
restore runs as an operator would run it: `manage.py restore` in another process pointed at
a new, empty database (a file on SQLite; a database created here on Postgres).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from mindpulse.backup import MAGIC, MANIFEST, read_manifest
from mindpulse.testing import SAMPLE_FEATURES
from monitoring.models import Alert
from predictions.models import Feedback, Prediction
from training import serving
from training.models import ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(__file__).resolve().parents[2]
FEATURES = SAMPLE_FEATURES
# The operator's sequence in ONE process pointed at the new database (each Django start costs
# seconds): a damaged backup refused, a restore refused by a conflicting file — the database
# and the files untouched by both — then the restore, what the restored database holds, and
# a second restore refused because the database is no longer empty.
RESTORE_AND_INSPECT = """
import io, json, sys
from pathlib import Path
import django
django.setup()
from django.core.management import CommandError, call_command
from django.db import connection

damaged, backup, conflict = sys.argv[1], sys.argv[2], Path(sys.argv[3])

def restore(path):
    out = io.StringIO()
    try:
        call_command("restore", path, stdout=out)
    except CommandError as exc:
        return "refused: " + str(exc)
    return out.getvalue()

def untouched():
    files = sorted(p.name for p in conflict.parent.iterdir())
    return connection.introspection.table_names() == [] and files == [conflict.name]

refused_damaged = restore(damaged)
untouched_after_damaged = untouched()
refused_conflict = restore(backup)
untouched_after_conflict = untouched()
conflict.unlink()
restored = restore(backup)
# The same inspection as the test process, from this module (no copy to drift apart).
from mindpulse.tests.test_backup import current_state
state = current_state()
print(json.dumps({
    "refused_damaged": refused_damaged,
    "untouched_after_damaged": untouched_after_damaged,
    "refused_conflict": refused_conflict,
    "untouched_after_conflict": untouched_after_conflict,
    "restored": restored,
    "state": state,
    "again": restore(backup),
}))
"""


def current_state() -> dict:
    loaded = serving.get_active_model()
    return {
        "predictions": sorted(
            [str(p.pk), p.probability, p.label, p.model_version.version, p.cgpa, p.channel]
            for p in Prediction.objects.select_related("model_version")
        ),
        "feedback": sorted([str(f.prediction_id), f.actual] for f in Feedback.objects.all()),
        "versions": sorted(
            list(row)
            for row in ModelVersion.objects.values_list("version", "status", "artifact_sha256")
        ),
        "alerts": list(Alert.objects.values_list("kind", flat=True)),
        "active": loaded.version,
        "probability": float(loaded.predictor.predict_proba_one(FEATURES)),
    }


@pytest.fixture
def production(active_model, trained_outcome, settings):
    """Two model versions, predictions with and without feedback, an alert, a report file."""
    from predictions.services import feedback_create, prediction_create_many
    from training import services

    services.model_register(trained_outcome)  # a retired version next to the active one
    stored = prediction_create_many([FEATURES, dict(FEATURES, CGPA=2.2), dict(FEATURES, Age=40)])
    feedback_create(prediction_id=stored[0].pk, actual=True)
    feedback_create(prediction_id=stored[1].pk, actual=False)
    Alert.objects.create(kind="drift", severity="warning", message="m", dedup_key="drift")
    report = Path(settings.REPORTS_DIR) / "data_drift" / "r1.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>drift</html>")
    return stored


@pytest.fixture
def empty_database(tmp_path):
    """The URL of a new, empty database (dropped afterwards on Postgres), and a table counter."""
    if connection.vendor == "sqlite":
        path = tmp_path / "restored.sqlite3"

        def tables() -> int:
            if not path.exists():
                return 0
            with sqlite3.connect(path) as db:
                return db.execute(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type='table'"
                ).fetchone()[0]

        yield f"sqlite:///{path}", tables
        return

    import psycopg
    from psycopg import sql

    s = connection.settings_dict
    name = f"{s['NAME']}_restore"[:63]
    params = {
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or 5432,
        "user": s["USER"],
        "password": s["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def tables() -> int:
        with psycopg.connect(dbname=name, **params) as db:
            query = "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
            return db.execute(query).fetchone()[0]

    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    try:
        yield f"postgres://{auth}@{params['host']}:{params['port']}/{name}", tables
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def run_restore(damaged: Path, backup: Path, conflict: Path, *, database_url, files) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": database_url,
        "ARTIFACTS_DIR": str(files / "artifacts"),
        "REPORTS_DIR": str(files / "reports"),
    }
    arguments = [str(damaged), str(backup), str(conflict)]
    result = subprocess.run(
        [sys.executable, "-c", RESTORE_AND_INSPECT, *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_restores_a_backup_into_an_empty_database(tmp_path, production, empty_database):
    database_url, tables = empty_database
    before = current_state()
    call_command("backup", to=tmp_path / "backups", with_reports=True, verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    # A copy with one flipped byte in a model file.
    damaged = shutil.copytree(backup, tmp_path / "damaged")
    artifact = next((damaged / "artifacts").glob("model-*"))
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    # A different file where a model file goes.
    restored = tmp_path / "restored"
    conflict = restored / "artifacts" / ModelVersion.objects.get(status="active").artifact_path
    conflict.parent.mkdir(parents=True)
    conflict.write_bytes(b"someone else's model")

    outcome = run_restore(damaged, backup, conflict, database_url=database_url, files=restored)

    assert outcome["refused_damaged"].startswith("refused: The backup is damaged")
    assert artifact.name in outcome["refused_damaged"] and outcome["untouched_after_damaged"]
    assert outcome["refused_conflict"].startswith("refused: Different files already exist")
    assert outcome["untouched_after_conflict"]
    assert f"active model v{before['active']} loads" in outcome["restored"]
    assert outcome["state"] == json.loads(json.dumps(before))
    assert len(before["predictions"]) == 3 and len(before["feedback"]) == 2
    assert (restored / "reports" / "data_drift" / "r1.html").read_text() == "<html>drift</html>"
    assert "is not empty" in outcome["again"]
    assert tables() > 10  # seen from outside the restoring process too


def test_it_describes_the_backup_in_its_manifest(tmp_path, production):
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    manifest = read_manifest(backup)
    assert manifest["database"]["engine"] == connection.vendor
    assert manifest["counts"]["predictions.Prediction"] == 3
    assert manifest["counts"]["predictions.Feedback"] == 2
    assert manifest["counts"]["training.ModelVersion"] == 2
    assert "0003_alert_delivery_repeats" in manifest["migrations"]["monitoring"]
    assert manifest["active_version"] == ModelVersion.objects.get(status="active").version
    registry = {
        f"artifacts/{path}": sha
        for v in ModelVersion.objects.all()
        for path, sha in (
            (v.artifact_path, v.artifact_sha256),
            (v.reference_path, v.reference_sha256),
        )
    }
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == registry
    for entry in manifest["files"]:
        assert (backup / entry["path"]).stat().st_size == entry["stored_size"]
    assert not any(f["kind"] == "report" for f in manifest["files"])  # without --with-reports
    assert manifest["encryption"] == "fernet-chunks-1mib"


def test_it_encrypts_every_file_of_the_backup(tmp_path, production, settings):
    call_command("backup", to=tmp_path / "backups", with_reports=True, verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    manifest = read_manifest(backup)
    model = Path(settings.ARTIFACTS_DIR) / ModelVersion.objects.get(status="active").artifact_path
    clear = {
        manifest["database"]["file"]: b"predictions_prediction",  # a table name in the dump
        "reports/data_drift/r1.html": b"<html>drift</html>",
        f"artifacts/{model.name}": model.read_bytes()[:64],
    }
    for relative, text in clear.items():
        stored = (backup / relative).read_bytes()
        assert stored.startswith(MAGIC) and text not in stored, relative
    # The first chunk is a Fernet token under the key (the restore test decrypts all).
    stored, start = (backup / f"artifacts/{model.name}").read_bytes(), len(MAGIC)
    (length,) = struct.unpack(">I", stored[start : start + 4])
    chunk = Fernet(settings.BACKUP_ENCRYPTION_KEY).decrypt(stored[start + 4 : start + 4 + length])
    assert model.read_bytes().startswith(chunk) and len(chunk) > 0


def test_it_refuses_to_back_up_without_a_key(tmp_path, production, settings):
    settings.BACKUP_ENCRYPTION_KEY = ""
    with pytest.raises(CommandError, match="BACKUP_ENCRYPTION_KEY is not set"):
        call_command("backup", to=tmp_path / "backups", verbosity=0)
    settings.BACKUP_ENCRYPTION_KEY = "not-a-key"
    with pytest.raises(CommandError, match="is not a Fernet key"):
        call_command("backup", to=tmp_path / "backups", verbosity=0)
    assert not (tmp_path / "backups").exists()  # refused before anything is written


def test_it_refuses_to_restore_with_another_key(tmp_path, production, settings):
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    settings.BACKUP_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match="was encrypted with another key; nothing was restored"):
        call_command("restore", str(backup), dry_run=True, verbosity=0)


def test_it_refuses_to_restore_an_unencrypted_backup(tmp_path, production):
    """A format-1 backup (before encryption), or a manifest stripped of its encryption."""
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    manifest = json.loads((backup / MANIFEST).read_text())
    del manifest["encryption"]
    manifest["format"] = 1
    (backup / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="is an unencrypted backup"):
        call_command("restore", str(backup), dry_run=True, verbosity=0)


def test_it_refuses_a_file_that_is_not_encrypted(tmp_path, production):
    """The manifest says encrypted, one file is in clear (its stored hash made to match)."""
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    manifest = json.loads((backup / MANIFEST).read_text())
    dump = backup / manifest["database"]["file"]
    dump.write_bytes(b"SQLite format 3\x00 in clear")
    digest, size = hashlib.sha256(dump.read_bytes()).hexdigest(), dump.stat().st_size
    manifest["database"].update(stored_sha256=digest, stored_size=size)
    (backup / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="is not encrypted"):
        call_command("restore", str(backup), dry_run=True, verbosity=0)


def test_it_refuses_to_restore_into_a_database_that_is_not_empty(tmp_path, production):
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    with pytest.raises(CommandError, match="is not empty"):
        call_command("restore", str(backup), verbosity=0)
    assert Prediction.objects.count() == 3


def test_it_refuses_a_backup_made_by_a_newer_version(tmp_path, production):
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    manifest = json.loads((backup / MANIFEST).read_text())
    manifest["migrations"]["monitoring"].append("0999_from_the_future")
    (backup / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="newer MindPulse"):
        call_command("restore", str(backup), dry_run=True, verbosity=0)


def test_it_refuses_to_back_up_an_altered_model_file(tmp_path, production, settings):
    version = ModelVersion.objects.get(status="active")
    path = Path(settings.ARTIFACTS_DIR) / version.artifact_path
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(CommandError, match="differs from the registry"):
        call_command("backup", to=tmp_path / "backups", verbosity=0)
    assert list((tmp_path / "backups").iterdir()) == []  # no partial backup left behind


RESTORE_INTO_DATABASE_STORAGE = """
import io, json, sys
import django
django.setup()
from django.core.management import call_command
from filestore import files
from mindpulse.tests.test_backup import current_state
out = io.StringIO()
call_command("restore", sys.argv[1], stdout=out)
print(json.dumps({
    "restored": out.getvalue(),
    "state": current_state(),
    "report": files.read_bytes(files.REPORTS, "data_drift/r1.html").decode(),
    "artifacts": sorted(files.walk(files.ARTIFACTS)),
}))
"""


@pytest.mark.parametrize("source", ["local", "postgres"])
def test_it_restores_into_a_host_that_keeps_its_files_in_the_database(
    tmp_path, empty_database, request, source
):
    """A backup made with either backend, restored on a host with STORAGE_BACKEND=postgres
    and empty folders: the model files and reports come back in the database."""
    from filestore import files

    if source == "postgres":
        request.getfixturevalue("database_storages")
    active_model = request.getfixturevalue("active_model")
    files.save_new(files.REPORTS, "data_drift/r1.html", b"<html>drift</html>")
    before = current_state()
    call_command("backup", to=tmp_path / "backups", with_reports=True, verbosity=0)
    (backup,) = (tmp_path / "backups").iterdir()
    host = tmp_path / "new-host"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": empty_database[0],
        "STORAGE_BACKEND": "postgres",
        **{name: str(host / name.lower()) for name in ("ARTIFACTS_DIR", "REPORTS_DIR")},
        "MODEL_CACHE_DIR": str(host / "cache"),
    }

    result = subprocess.run(
        [sys.executable, "-c", RESTORE_INTO_DATABASE_STORAGE, str(backup)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert f"active model v{active_model.version} loads" in outcome["restored"]
    assert outcome["state"] == json.loads(json.dumps(before))
    assert outcome["report"] == "<html>drift</html>"
    assert active_model.artifact_path in outcome["artifacts"]
    assert not (host / "artifacts_dir").exists() and not (host / "reports_dir").exists()
