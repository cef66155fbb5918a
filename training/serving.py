"""The model in service, loaded once per process and swapped without a restart.

Each process keeps the loaded version in memory and asks the database which version
is active at most every ACTIVE_MODEL_CHECK_SECONDS, so a promotion or a rollback
reaches every web process within seconds. A file whose sha256 does not match its
registry row is refused before it is deserialised, and the last good version keeps
serving.

A newly active version is read, verified and compiled by a loader thread of the process
(MODEL_LOAD_IN_BACKGROUND): requests keep answering with the previous version until the new
one is ready, instead of the first request after a promotion paying for the load. Only a
process with no model at all (just started) loads in the request, as it has nothing else to
answer with.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from filestore import files

from . import artifacts, fastpath
from .models import ModelVersion

logger = logging.getLogger(__name__)

# A refused file is read and hashed again when it changes on disk, or after this long anyway
# (a file restored in place with its old time stamp), never on every request.
REFUSED_RETRY_SECONDS = 30.0
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    version: int
    algorithm: str
    threshold: float
    pipeline: object
    predictor: object  # fastpath.Predictor: predict_proba_one(dict), predict_proba(frame)


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.loaded: LoadedModel | None = None
        self.checked_at = float("-inf")
        # (version id, sha256) -> (the file's stat signature when refused, when). The same
        # file is not read again, but a file put back in place (another signature) is.
        self.refused: dict[tuple[int, str], tuple[tuple, float]] = {}
        # Why nothing answers, when the active version was refused and no other is loaded.
        self.refusal: str | None = None
        # The background load in flight: (version id, sha256) and its thread.
        self.loading: tuple[int, str] | None = None
        self.loader: threading.Thread | None = None


_state = _State()


def _after_fork_in_child() -> None:
    # A loader thread does not survive fork(): a child must not wait for it forever, nor
    # inherit a lock held by a thread that no longer exists.
    _state.lock = threading.Lock()
    _state.loading = None
    _state.loader = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _signature(row: ModelVersion) -> tuple:
    return files.signature(files.ARTIFACTS, row.artifact_path)


def refusal() -> str | None:
    """Why no model answers although a version is active (its file was refused), or None."""
    return _state.refusal if _state.loaded is None else None


def load_version(row: ModelVersion) -> LoadedModel:
    """Verify and load one version's artifact (raises artifacts.ArtifactError)."""
    payload = artifacts.load_artifact_bytes(
        _artifact_bytes(row), row.artifact_sha256, source=f"artifact {row.artifact_path}"
    )
    return LoadedModel(
        version_id=row.pk,
        version=row.version,
        algorithm=row.algorithm,
        threshold=float(row.threshold),
        pipeline=payload["pipeline"],
        predictor=fastpath.compile_predictor(payload["pipeline"]),
    )


def _artifact_bytes(row: ModelVersion) -> bytes:
    """The artifact's bytes, read once; the caller verifies and unpickles these same bytes.

    From a storage that is not a local folder, a file that verified is kept in MODEL_CACHE_DIR
    under its sha256, and read from there next time (verified again by the caller; a cached
    file that no longer matches is dropped and fetched anew).
    """
    cached = None
    if not files.is_local(files.ARTIFACTS) and _SHA256.fullmatch(row.artifact_sha256 or ""):
        cached = Path(settings.MODEL_CACHE_DIR) / f"{row.artifact_sha256}.joblib"
        try:
            data = cached.read_bytes()
        except OSError:
            pass
        else:
            if hashlib.sha256(data).hexdigest() == row.artifact_sha256:
                return data
            logger.warning("model_cache_refused version=%s file=%s", row.version, cached)
            cached.unlink(missing_ok=True)
    try:
        data = files.read_bytes(files.ARTIFACTS, row.artifact_path)
    except OSError as exc:
        raise artifacts.ArtifactError(
            f"artifact {row.artifact_path} cannot be read: {exc}"
        ) from exc
    if cached is not None and hashlib.sha256(data).hexdigest() == row.artifact_sha256:
        try:
            _cache_write(cached, data)
        except OSError as exc:  # a full or read-only disk costs a fetch next time, nothing else
            logger.warning("model_cache_not_written file=%s error=%s", cached, exc)
    return data


def _cache_write(path: Path, data: bytes) -> None:
    """Write a cache file through a temp file of this process's own, then rename: processes of
    one host caching the same version at once each rename complete, identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, path)
    finally:
        if os.path.exists(part):
            os.remove(part)


def get_active_model() -> LoadedModel | None:
    """The model that answers now, or None when no version is active and none was loaded."""
    state = _state
    if time.monotonic() - state.checked_at < settings.ACTIVE_MODEL_CHECK_SECONDS:
        return state.loaded
    with state.lock:
        if time.monotonic() - state.checked_at < settings.ACTIVE_MODEL_CHECK_SECONDS:
            return state.loaded
        try:
            _refresh(state)
        finally:
            # Stamped only once the load is over: a thread that arrives meanwhile waits on the
            # lock for the model instead of answering "no model yet" (gthread workers did).
            state.checked_at = time.monotonic()
        return state.loaded


def _refresh(state: _State) -> None:
    """Called with state.lock held."""
    row = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if row is None:
        state.loaded, state.refusal = None, None
        return
    if state.loaded is not None and state.loaded.version_id == row.pk:
        return
    key, signature = (row.pk, row.artifact_sha256), _signature(row)
    refused = state.refused.get(key)
    if (
        refused is not None
        and refused[0] == signature
        and time.monotonic() - refused[1] < REFUSED_RETRY_SECONDS
    ):
        return
    if state.loaded is None or not settings.MODEL_LOAD_IN_BACKGROUND:
        _load(state, row, key, signature)
        return
    if state.loading is not None:
        return  # one load at a time; a later check starts the next one if still needed
    state.loading = key
    state.loader = threading.Thread(
        target=_load_in_background,
        args=(state, row, key, signature),
        name=f"model-loader-v{row.version}",
        daemon=True,
    )
    state.loader.start()


def _load(state: _State, row: ModelVersion, key: tuple, signature: tuple) -> None:
    """Load `row` and put it in service; called with state.lock held."""
    try:
        loaded = load_version(row)
    except artifacts.ArtifactError as exc:
        _refused(state, row, key, signature, exc)
        return
    _serve(state, loaded, key)


def _serve(state: _State, loaded: LoadedModel, key: tuple) -> None:
    state.loaded = loaded
    state.refused.pop(key, None)
    state.refusal = None
    logger.info("model_loaded version=%s algorithm=%s", loaded.version, loaded.algorithm)


def _refused(state: _State, row: ModelVersion, key: tuple, signature: tuple, exc) -> None:
    state.refused[key] = (signature, time.monotonic())
    state.refusal = (
        f"The model in service (version {row.version}) was refused: its file failed "
        "verification or cannot be read."
    )
    logger.error(
        "model_refused version=%s error=%s serving=%s",
        row.version,
        exc,
        state.loaded and state.loaded.version,
    )


def _load_in_background(state: _State, row: ModelVersion, key: tuple, signature: tuple) -> None:
    """The loader thread: read, verify and compile outside the lock, then swap under it."""
    from django.db import connections

    started = time.monotonic()
    try:
        try:
            loaded, error = load_version(row), None
        except artifacts.ArtifactError as exc:
            loaded, error = None, exc
        except Exception as exc:  # never let a loader die silently; the next check retries
            logger.exception("model_load_failed version=%s", row.version)
            loaded, error = None, artifacts.ArtifactError(repr(exc))
        with state.lock:
            if state.loading != key:
                return  # reset_cache() ran meanwhile: this result is stale
            state.loading = None
            if error is not None:
                _refused(state, row, key, signature, error)
                return
            # The active version may have changed again during the load: the next check
            # (at most ACTIVE_MODEL_CHECK_SECONDS later) starts that one.
            _serve(state, loaded, key)
            logger.info(
                "model_swapped version=%s load_seconds=%.3f",
                loaded.version,
                time.monotonic() - started,
            )
    finally:
        connections.close_all()  # this thread's own connections, if the load opened any


def wait_for_loader(timeout: float | None = None) -> bool:
    """Wait for the background load in flight, if any (tests, the benchmark); True when idle."""
    loader = _state.loader
    if loader is not None:
        loader.join(timeout)
        return not loader.is_alive()
    return True


def reset_cache() -> None:
    """Forget the loaded model (tests, and after a restore)."""
    with _state.lock:
        _state.loaded = None
        _state.checked_at = float("-inf")
        _state.refused.clear()
        _state.refusal = None
        _state.loading = None
