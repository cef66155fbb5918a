"""What the apps call to store and read their files, whatever backend STORAGES names.

Three named storages: "artifacts" (model files and reference snapshots), "reports" (Evidently
HTML) and "archive" (the rows each retrain claimed). Names are relative ("model-v0001-….joblib",
"data_drift/….html"); the database stores those names, never a host's path.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

ARTIFACTS = "artifacts"
REPORTS = "reports"
ARCHIVE = "archive"
_CHUNK = 1 << 20


class VerificationError(ValueError):
    """A stored file does not match the sha256 its database row recorded."""


def storage(alias: str | Storage) -> Storage:
    """A named storage ("artifacts", "reports", "archive"), or the storage given itself."""
    return storages[alias] if isinstance(alias, str) else alias


def is_local(alias: str) -> bool:
    """True when the storage is a folder of this host (nothing to cache)."""
    return isinstance(storage(alias), FileSystemStorage)


def save_new(alias: str, name: str, data: bytes | File) -> tuple[str, int]:
    """Store a new file under exactly `name` and return (sha256 hex, size).

    Stored files are immutable: FileExistsError when the name is taken (never a renamed copy).
    """
    target = storage(alias)
    if target.exists(name):
        raise FileExistsError(f"{alias}:{name} already exists; stored files are never overwritten")
    content = ContentFile(data, name=name) if isinstance(data, bytes) else data
    saved = target.save(name, content)
    if saved != name:  # a writer took the name between the check and the save
        target.delete(saved)
        raise FileExistsError(f"{alias}:{name} already exists; stored files are never overwritten")
    sha256 = _digest(data) if isinstance(data, bytes) else sha256_of(alias, name)
    return sha256, target.size(name)


def save_path(alias: str, name: str, path) -> tuple[str, int]:
    """Store a local file (one a library wrote, e.g. Evidently's HTML) under `name`."""
    with open(path, "rb") as handle:
        return save_new(alias, name, File(handle, name=name))


def read_bytes(alias: str | Storage, name: str) -> bytes:
    """The whole file (OSError when it is missing or, in the database backend, damaged)."""
    with storage(alias).open(name, "rb") as handle:
        return handle.read()


def read_verified(alias: str, name: str, expected_sha256: str) -> bytes:
    """The whole file, checked against `expected_sha256` (VerificationError when it differs).

    The bytes returned are the bytes hashed: parse those, never read the file again.
    """
    data = read_bytes(alias, name)
    actual = _digest(data)
    if actual != str(expected_sha256 or "").lower():
        raise VerificationError(
            f"{name} does not match its recorded sha256 (expected {str(expected_sha256)[:12]}…, "
            f"found {actual[:12]}…): refused"
        )
    return data


def open_file(alias: str, name: str) -> File:
    """The file, open for streaming reads (a view's FileResponse)."""
    return storage(alias).open(name, "rb")


def sha256_of(alias: str, name: str) -> str:
    digest = hashlib.sha256()
    with storage(alias).open(name, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def replace(alias: str | Storage, name: str, data: bytes) -> None:
    """Give an existing file new content (the privacy purge of erased rows).

    Local folders and the database backend replace atomically and keep the file's age; another
    backend (S3) deletes then saves, so there the file's age restarts.
    """
    target = storage(alias)
    if isinstance(target, FileSystemStorage):
        path = target.path(name)
        stat = os.stat(path)
        part = f"{path}.{os.getpid()}.part"
        try:
            with open(part, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            os.replace(part, path)
        finally:
            if os.path.exists(part):
                os.remove(part)
    elif hasattr(target, "replace"):
        target.replace(name, ContentFile(data, name=name))
    else:
        target.delete(name)
        save_new(alias, name, data)


def exists(alias: str, name: str) -> bool:
    return bool(name) and storage(alias).exists(name)


def delete(alias: str | Storage, name: str) -> None:
    """Delete a file; a missing one is fine."""
    if name:
        storage(alias).delete(name)


def signature(alias: str, name: str) -> tuple:
    """A cheap token that changes when the stored file is replaced; () when it is missing."""
    target = storage(alias)
    try:
        if isinstance(target, FileSystemStorage):
            stat = os.stat(target.path(name))
            return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if hasattr(target, "sha256"):
            return (target.sha256(name),)
        return (target.size(name), target.get_modified_time(name))
    except (OSError, NotImplementedError):
        return ()


def walk(alias: str | Storage, path: str = "") -> Iterator[str]:
    """Every stored name under `path` (".part" files being written are skipped)."""
    target = storage(alias)
    try:
        directories, names = target.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".part"):
            yield f"{path}/{name}" if path else name
    for directory in directories:
        yield from walk(alias, f"{path}/{directory}" if path else directory)


def modified_at(alias: str | Storage, name: str) -> datetime:
    return storage(alias).get_modified_time(name)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def name_from_path(value: str, base) -> str:
    """A storage name for what an older row may hold: an absolute path of a host becomes its
    path relative to `base` (the folder setting), or its file name when it lies elsewhere."""
    if not value or not os.path.isabs(value):
        return value
    path, folder = Path(value), Path(base)
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.name
