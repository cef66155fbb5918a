"""Immutable, verified model files.

Pure Python: no Django imports.

An artifact is a joblib dump of a dict (see REQUIRED_KEYS). The files are written atomically
(".part", fsync, rename, fsync of the directory) and never overwritten. The model registry
stores each file's sha256, and load_artifact() checks that hash on the exact bytes it is
about to unpickle. Unpickling runs code, so a swapped or corrupted file must be refused
BEFORE joblib sees it.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import re
from pathlib import Path
from typing import Any

import joblib

from training.features import FEATURE_NAMES

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version",
    "algorithm",
    "pipeline",
    "threshold",
    "features",
    "library_versions",
)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class ArtifactError(Exception):
    """The artifact is missing, does not match its recorded hash, or is not a valid payload."""


def library_versions() -> dict[str, str]:
    """Return the versions that must match for a pickled pipeline to behave the same."""
    import numpy
    import pandas
    import sklearn
    import xgboost

    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "xgboost": xgboost.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_artifact(
    directory: str | Path, name: str, payload: dict[str, Any]
) -> tuple[Path, str, int]:
    """Write `payload` to directory/name and return (path, sha256 hex, size in bytes).

    The payload is checked first (ValueError), so an artifact that load_artifact() would
    refuse is never written. FileExistsError is raised if the final file already exists.
    """
    final = Path(directory) / name
    sha256, size = atomic_write_bytes(final, dump_artifact(payload, name=name))
    return final, sha256, size


def dump_artifact(payload: dict[str, Any], *, name: str = "artifact") -> bytes:
    """The bytes of an artifact, after checking the payload (ValueError when it is invalid).

    Dumping to memory first means a payload that cannot be pickled stores nothing at all.
    """
    try:
        _check_payload(payload, source=f"payload for {name}")
    except ArtifactError as exc:
        raise ValueError(str(exc)) from None
    buffer = io.BytesIO()
    joblib.dump(payload, buffer)
    return buffer.getvalue()


def atomic_write_bytes(path: str | Path, data: bytes) -> tuple[str, int]:
    """Write `data` to `path` atomically and never over an existing file.

    Returns (sha256 hex, size in bytes). The bytes go to "<path>.part", which is
    flushed and fsynced, then renamed with os.replace, and then the directory is fsynced so
    that the rename itself survives a crash. Readers therefore see either no file or the
    complete file. The hash is computed from the file as written, so it vouches for the
    bytes on disk. A stale .part from a crashed writer is simply overwritten. The existence
    check and the rename are two steps, so two writers racing for the same name are not
    excluded; callers use unique names (version + random token).
    """
    final = Path(path)
    if final.name in ("", ".", "..") or final.name.endswith(".part"):
        raise ValueError(f"invalid artifact file name: {final.name!r}")
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(f"artifact {final} already exists; artifacts are immutable")
    part = final.with_name(final.name + ".part")
    try:
        with open(part, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        sha256 = sha256_file(part)
        size = part.stat().st_size
        if final.exists():  # re-checked as late as possible, just before the rename
            raise FileExistsError(f"artifact {final} already exists; artifacts are immutable")
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)
    return sha256, size


def _fsync_directory(directory: Path) -> None:
    # POSIX only. Windows cannot open a directory, and there NTFS journals the rename.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_artifact(path: str | Path, expected_sha256: str) -> dict[str, Any]:
    """Verify, then unpickle, the artifact at `path`, and return its payload dict.

    The file is read into memory once. Its hash is checked, and those same bytes are the
    ones unpickled, so the file cannot be swapped between the check and the load. Raises
    ArtifactError if the file is missing, the hash differs, or the payload is malformed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        _check_expected(expected_sha256, source=f"artifact {path}")
        raise ArtifactError(f"artifact {path} cannot be read: {exc}") from exc
    return load_artifact_bytes(data, expected_sha256, source=f"artifact {path}")


def load_artifact_bytes(data: bytes, expected_sha256: str, *, source: str) -> dict[str, Any]:
    """Verify `data` against `expected_sha256`, then unpickle those same bytes.

    The caller read the file once (from any storage); nothing is read again between the
    check and the load. Raises ArtifactError if the hash differs or the payload is malformed.
    """
    expected = _check_expected(expected_sha256, source=source)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ArtifactError(
            f"{source} failed verification: expected sha256 {expected}, "
            f"file has {actual} ({len(data)} bytes); refusing to load it"
        )
    try:
        payload = joblib.load(io.BytesIO(data))
    except Exception as exc:  # a verified file that will not load: most likely a library mismatch
        raise ArtifactError(
            f"{source} matches its hash but cannot be loaded ({exc!r}); "
            f"running {library_versions()}"
        ) from exc
    _check_payload(payload, source=source)
    return payload


def _check_expected(expected_sha256: str, *, source: str) -> str:
    expected = str(expected_sha256 or "").strip().lower()
    if not _SHA256_HEX.fullmatch(expected):
        raise ArtifactError(f"{source}: expected sha256 {expected_sha256!r} is not a hash")
    return expected


def _check_payload(payload: Any, *, source: str) -> None:
    if not isinstance(payload, dict):
        raise ArtifactError(f"{source}: expected a dict, got {type(payload).__name__}")
    absent = [key for key in REQUIRED_KEYS if key not in payload]
    if absent:
        raise ArtifactError(f"{source}: missing key(s) {', '.join(absent)}")
    if payload["format_version"] != FORMAT_VERSION:
        raise ArtifactError(
            f"{source}: format_version {payload['format_version']!r}, "
            f"this code reads {FORMAT_VERSION}"
        )
    if list(payload["features"]) != list(FEATURE_NAMES):
        raise ArtifactError(
            f"{source}: trained on features {list(payload['features'])}, "
            f"this code uses {list(FEATURE_NAMES)}"
        )
