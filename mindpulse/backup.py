"""Backups: a consistent database dump, the model files it references, and a manifest.

A backup is a folder `mindpulse-backup-YYYYmmdd-HHMMSS/`:

    manifest.json        what is inside: time, engine, migrations, row counts, every file's
                         sha256 and size, the model versions and the active one
    database.dump        pg_dump --format=custom (Postgres), or
    database.sqlite3     a copy made with SQLite's online backup API
    artifacts/           every model file and reference parquet a ModelVersion row names,
                         read from the artifacts storage (a folder or the database) and
                         checked against its recorded sha256 while copied
    reports/             the Evidently HTML reports (only with --with-reports)

Consistency: on Postgres the row counts, the model versions and pg_dump all read one
exported snapshot (a REPEATABLE READ transaction); on SQLite they are read from the copy
itself. Files are immutable and written before their row commits, so every row in the dump
has its file. The folder is built under a hidden `.partial` name and renamed when complete.

Encryption at rest: every file but the manifest (which holds counts, hashes and migration
names, no personal data) is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`)
under BACKUP_ENCRYPTION_KEY, in 1 MiB chunks, each a Fernet token preceded by its length, so
that neither side holds a whole dump in memory. The manifest records each file's sha256 and
size both as stored (encrypted) and in clear. A backup cannot be made without the key, and
restore refuses an unencrypted backup or one the key cannot decrypt.

Restoring (restore_backup) checks everything before it touches anything: the checksums,
the key, that the database is empty, that the code knows every migration of the backup, and that no
different file sits where a model file goes. Then it restores the database, applies newer
migrations, stores the files through their storages (with the database backend the dump
brought them back: each is checked against the manifest), compares the row counts and loads
the active model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from filestore import files
from filestore.postgres import PostgresBlobStorage

FORMAT_VERSION = 2  # 1: unencrypted (refused by restore)
ENCRYPTION = "fernet-chunks-1mib"
MAGIC = b"MINDPULSE-FERNET-1\n"
_LENGTH = struct.Struct(">I")
KEY_HINT = (
    'generate one with: .venv/bin/python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())", and keep it apart from the backups'
)
MANIFEST = "manifest.json"
PREFIX = "mindpulse-backup-"
DUMP_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
COUNTED = (
    "training.DatasetImport",
    "training.StudentRecord",
    "training.ModelVersion",
    "training.ActivationEvent",
    "training.RetrainRun",
    "predictions.Prediction",
    "predictions.Feedback",
    "monitoring.MonitoringRun",
    "monitoring.MonitoringReport",
    "monitoring.Alert",
)
_VERSION_FIELDS = (
    "version",
    "status",
    "algorithm",
    "artifact_path",
    "artifact_sha256",
    "reference_path",
    "reference_sha256",
)
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """The backup or the restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class DatabaseState:
    counts: dict[str, int]
    migrations: dict[str, list[str]]
    versions: list[dict]


# --- Backup -------------------------------------------------------------------------------------


def backup_create(to: str | Path, *, include_reports: bool = False) -> Path:
    """Write a complete backup folder under `to` and return its path."""
    engine = connection.vendor
    if engine not in DUMP_FILES:
        raise BackupError(f"Backups support Postgres and SQLite, not {engine}.")
    fernet = _fernet()
    created = timezone.now()
    target = Path(to) / f"{PREFIX}{created:%Y%m%d-%H%M%S}"
    if target.exists():
        raise BackupError(f"{target} already exists: wait a second and run the backup again.")
    partial = target.with_name(f".{target.name}.partial")
    partial.mkdir(parents=True)
    try:
        dump = partial / DUMP_FILES[engine]
        state = _dump_postgres(dump) if engine == "postgresql" else _dump_sqlite(dump)
        files = _copy_model_files(state.versions, partial)
        if include_reports:
            files += _copy_reports(partial)
        database = {"engine": engine, **_describe(dump, partial)}
        for entry in [database, *files]:
            path = partial / entry.get("file", entry.get("path"))
            entry["stored_sha256"], entry["stored_size"] = _encrypt_in_place(path, fernet)
        manifest = {
            "format": FORMAT_VERSION,
            "encryption": ENCRYPTION,
            "created_at": created.isoformat(),
            "database": database,
            "migrations": state.migrations,
            "counts": state.counts,
            "model_versions": state.versions,
            "active_version": next(
                (v["version"] for v in state.versions if v["status"] == "active"), None
            ),
            "files": files,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _fernet():
    from cryptography.fernet import Fernet

    key = settings.BACKUP_ENCRYPTION_KEY
    if not key:
        raise BackupError(f"BACKUP_ENCRYPTION_KEY is not set: backups are encrypted; {KEY_HINT}.")
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise BackupError(
            f"BACKUP_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64 bytes); {KEY_HINT}."
        ) from None


def _encrypt_in_place(path: Path, fernet) -> tuple[str, int]:
    """Replace the file by its encrypted form; (sha256, size) of what is stored."""
    part = path.with_name(f".{path.name}.enc.part")
    with open(path, "rb") as reader, open(part, "xb") as writer:
        writer.write(MAGIC)
        while chunk := reader.read(_CHUNK):
            token = fernet.encrypt(chunk)
            writer.write(_LENGTH.pack(len(token)))
            writer.write(token)
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(part, path)
    return _hash(path)


def _decrypt_to(source: Path, destination: Path, fernet) -> None:
    """Decrypt a backup file; BackupError when it is not encrypted or the key is not its key."""
    from cryptography.fernet import InvalidToken

    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as reader, open(destination, "xb") as writer:
        if reader.read(len(MAGIC)) != MAGIC:
            raise BackupError(
                f"{source.name} is not encrypted: MindPulse restores only the encrypted backups "
                "that `manage.py backup` writes; nothing was restored."
            )
        first = True
        while header := reader.read(_LENGTH.size):
            token = reader.read(_LENGTH.unpack(header)[0])
            try:
                writer.write(fernet.decrypt(token))
            except InvalidToken:
                what = "was encrypted with another key" if first else "is damaged"
                raise BackupError(
                    f"{source.name} cannot be decrypted with BACKUP_ENCRYPTION_KEY: it {what}; "
                    "nothing was restored. Set the key the backup was made with."
                ) from None
            first = False


def _dump_postgres(path: Path) -> DatabaseState:
    """pg_dump of one exported snapshot, read by the counts and the file list as well."""
    if connection.in_atomic_block:
        raise BackupError("Run the backup outside a transaction (it opens its own snapshot).")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        args, env = _pg_connection("pg_dump")
        _run([*args, "--format=custom", f"--snapshot={snapshot}", f"--file={path}"], env)
        return _orm_state()


def _dump_sqlite(path: Path) -> DatabaseState:
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        connection.connection.backup(target)
    finally:
        target.close()
    return _sqlite_state(path)


def _orm_state() -> DatabaseState:
    from training.models import ModelVersion

    counts = {label: apps.get_model(label).objects.count() for label in COUNTED}
    applied = MigrationRecorder(connection).applied_migrations()
    versions = list(ModelVersion.objects.order_by("version").values(*_VERSION_FIELDS))
    return DatabaseState(counts, _by_app(applied), versions)


def _sqlite_state(path: Path) -> DatabaseState:
    """The same facts as _orm_state, read from the copy (what the backup really holds)."""
    from training.models import ModelVersion

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        counts = {}
        for label in COUNTED:
            table = apps.get_model(label)._meta.db_table
            counts[label] = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        applied = db.execute("SELECT app, name FROM django_migrations").fetchall()
        columns = [ModelVersion._meta.get_field(name).column for name in _VERSION_FIELDS]
        rows = db.execute(
            f'SELECT {", ".join(columns)} FROM "{ModelVersion._meta.db_table}" '  # noqa: S608
            f"ORDER BY {columns[0]}"
        ).fetchall()
    finally:
        db.close()
    versions = [dict(zip(_VERSION_FIELDS, row, strict=True)) for row in rows]
    return DatabaseState(counts, _by_app(applied), versions)


def _by_app(applied) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for app, name in applied:
        grouped.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(grouped.items())}


def _copy_model_files(versions: list[dict], root: Path) -> list[dict]:
    entries, problems = [], []
    for version in versions:
        for kind, name, expected in (
            ("artifact", version["artifact_path"], version["artifact_sha256"]),
            ("reference", version["reference_path"], version["reference_sha256"]),
        ):
            if not name:
                continue
            relative = _safe_relative(f"artifacts/{name}")
            try:
                digest, size = _copy_hashing(files.ARTIFACTS, name, root / relative)
            except OSError as exc:
                problems.append(f"v{version['version']} {kind} {name}: {exc.strerror or exc}")
                continue
            if digest != expected:
                problems.append(
                    f"v{version['version']} {kind} {name}: sha256 {digest[:12]}… differs from "
                    f"the registry's {expected[:12]}…"
                )
            entries.append({"path": str(relative), "sha256": digest, "size": size, "kind": kind})
    if problems:
        raise BackupError(
            "Model files are missing or altered; a backup of them could not restore the "
            "models:\n  " + "\n  ".join(problems)
        )
    return entries


def _copy_reports(root: Path) -> list[dict]:
    entries = []
    for name in sorted(files.walk(files.REPORTS)):
        relative = _safe_relative(f"reports/{name}")
        digest, size = _copy_hashing(files.REPORTS, name, root / relative)
        entries.append({"path": str(relative), "sha256": digest, "size": size, "kind": "report"})
    return entries


def _copy_hashing(alias: str, name: str, destination: Path) -> tuple[str, int]:
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with files.open_file(alias, name) as reader, open(destination, "xb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def _describe(path: Path, root: Path) -> dict:
    digest, size = _hash(path)
    return {"file": path.relative_to(root).as_posix(), "sha256": digest, "size": size}


def _hash(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _safe_relative(relative: str) -> PurePosixPath:
    """A manifest path that stays inside the backup: artifacts/... or reports/..., no '..'."""
    path = PurePosixPath(relative)
    if (
        path.is_absolute()
        or ".." in path.parts
        or len(path.parts) < 2
        or path.parts[0] not in ("artifacts", "reports")
    ):
        raise BackupError(f"Unsafe path in the backup: {relative!r}.")
    return path


def _pg_connection(program: str) -> tuple[list[str], dict]:
    """The program's connection arguments from Django's settings; the password via PGPASSWORD."""
    binary = shutil.which(program)
    if binary is None:
        raise BackupError(f"{program} is not installed (apt-get install postgresql-client).")
    s = connection.settings_dict
    args = [binary, "--dbname", s["NAME"]]
    if s.get("HOST"):
        args += ["--host", s["HOST"]]
    if s.get("PORT"):
        args += ["--port", str(s["PORT"])]
    if s.get("USER"):
        args += ["--username", s["USER"]]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    if (s.get("OPTIONS") or {}).get("sslmode"):
        env["PGSSLMODE"] = s["OPTIONS"]["sslmode"]
    return args, env


def _run(args: list[str], env: dict) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        name = Path(args[0]).name
        raise BackupError(f"{name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


# --- Restore ------------------------------------------------------------------------------------


def read_manifest(directory: str | Path) -> dict:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{path} not found: is {directory} a MindPulse backup?") from None
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format") == 1 or "encryption" not in manifest:
        raise BackupError(
            f"{directory} is an unencrypted backup: MindPulse restores only encrypted backups "
            "(made with BACKUP_ENCRYPTION_KEY set); nothing was restored."
        )
    if manifest.get("format") != FORMAT_VERSION or manifest["encryption"] != ENCRYPTION:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
    return manifest


def verify_backup(directory: str | Path, manifest: dict) -> None:
    """Every file is present with its recorded size and sha256 (the dump included)."""
    root = Path(directory)
    database = manifest["database"]
    if database.get("file") not in DUMP_FILES.values():
        raise BackupError(f"Unexpected database file {database.get('file')!r} in the manifest.")
    entries = [(database["file"], database)]
    entries += [(str(_safe_relative(entry["path"])), entry) for entry in manifest["files"]]
    problems = []
    for relative, entry in entries:
        try:
            digest, size = _hash(root / relative)
        except OSError as exc:
            problems.append(f"{relative}: {exc.strerror or exc}")
            continue
        if (digest, size) != (entry["stored_sha256"], entry["stored_size"]):
            problems.append(f"{relative}: sha256 or size differs from the manifest")
    if problems:
        listed = "\n  ".join(problems)
        raise BackupError(f"The backup is damaged; nothing was restored:\n  {listed}")


def restore_backup(directory: str | Path, *, dry_run: bool = False) -> dict:
    """Check, then restore the backup into the (empty) configured database and folders."""
    root = Path(directory)
    manifest = read_manifest(root)
    engine = manifest["database"]["engine"]
    if engine != connection.vendor:
        raise BackupError(
            f"This backup is of a {engine} database; the configured one is {connection.vendor}."
        )
    verify_backup(root, manifest)
    fernet = _fernet()
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    # The clear files exist only while the restore runs, next to the data they restore.
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.VAR_DIR) as clear:
        return _restore_clear(root, Path(clear), manifest, fernet, dry_run=dry_run)


def _restore_clear(root: Path, clear: Path, manifest: dict, fernet, *, dry_run: bool) -> dict:
    database = manifest["database"]
    for entry in [database, *manifest["files"]]:
        relative = entry.get("file") or str(_safe_relative(entry["path"]))
        _decrypt_to(root / relative, clear / relative, fernet)
        if _hash(clear / relative) != (entry["sha256"], entry["size"]):
            raise BackupError(f"{relative} decrypts to other bytes than the manifest says.")
    engine = database["engine"]
    root = clear
    _check_migrations_known(manifest["migrations"])
    _check_database_empty()
    plan, deferred = _plan_files(manifest["files"])
    if dry_run:
        return {"checked": True, "files": len(plan) + len(deferred), "counts": manifest["counts"]}

    dump = root / manifest["database"]["file"]
    connection.close()
    if engine == "postgresql":
        args, env = _pg_connection("pg_restore")
        # One transaction: a restore that fails leaves the database empty, not half-filled.
        _run([*args, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              str(dump)], env)  # fmt: skip
    else:
        _restore_sqlite(dump)
    connection.close()

    migrated = _migrate_if_needed()  # first: the database storage's tables may be newer
    copied = 0
    for source, alias, name, sha256 in [*plan, *deferred]:
        copied += _place(root / source, alias, name, sha256)
    counts = _orm_state().counts
    if counts != manifest["counts"]:
        raise BackupError(f"Row counts differ after restore: {counts} vs {manifest['counts']}.")
    return {"counts": counts, "files": copied, "migrated": migrated, **_check_active_model()}


def _check_migrations_known(migrations: dict[str, list[str]]) -> None:
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = sorted(
        f"{app}.{name}"
        for app, names in migrations.items()
        for name in names
        if (app, name) not in known
    )
    if unknown:
        raise BackupError(
            "The backup was made by a newer MindPulse (unknown migrations: "
            f"{', '.join(unknown[:10])}); restore it with that version."
        )


def _check_database_empty() -> None:
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(
            f"The database {connection.settings_dict['NAME']} is not empty ({len(tables)} "
            "tables): restore only into a new, empty database (never migrated)."
        )


def _plan_files(entries: list[dict]) -> tuple[list[tuple[str, str, str]], list[tuple]]:
    """(source in the backup, storage alias, name) of each file to place now, and of those
    whose storage is the database itself (they come back with it, checked after it).

    Refuses a different file already stored where a backup's file goes.
    """
    plan, deferred, conflicts = [], [], []
    for entry in entries:
        relative = _safe_relative(entry["path"])
        alias, name = relative.parts[0], "/".join(relative.parts[1:])
        step = (str(relative), alias, name, entry["sha256"])
        if _in_database(alias):
            deferred.append(step)
            continue
        if files.exists(alias, name):
            if files.sha256_of(alias, name) != entry["sha256"]:
                conflicts.append(f"{alias}:{name}")
            continue  # the same file is already there
        plan.append(step)
    if conflicts:
        raise BackupError(
            "Different files already exist where the backup's files go; nothing was restored "
            "(move them away first):\n  " + "\n  ".join(conflicts)
        )
    return plan, deferred


def _in_database(alias: str) -> bool:
    return isinstance(files.storage(alias), PostgresBlobStorage)


def _place(source: Path, alias: str, name: str, sha256: str) -> int:
    """Store one file of the backup unless the same bytes are stored already; 1 if stored."""
    if files.exists(alias, name):
        if files.sha256_of(alias, name) != sha256:
            raise BackupError(f"{alias}:{name} differs from the backup's file after the restore.")
        return 0
    files.save_path(alias, name, source)
    return 1


def _restore_sqlite(dump: Path) -> None:
    target = Path(connection.settings_dict["NAME"])
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.restore.part")
    shutil.copyfile(dump, part)
    with open(part, "rb") as handle:
        os.fsync(handle.fileno())
    # The empty database checked above may have left journal files next to it.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(part, target)


def _migrate_if_needed() -> bool:
    from django.core.management import call_command
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    call_command("migrate", interactive=False, verbosity=0)
    return True


def _check_active_model() -> dict:
    from training import serving
    from training.artifacts import ArtifactError
    from training.models import ModelVersion

    serving.reset_cache()
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if active is None:
        return {"active_version": None}
    try:
        serving.load_version(active)
    except ArtifactError as exc:
        raise BackupError(f"The active model v{active.version} does not load: {exc}") from None
    return {"active_version": active.version}
