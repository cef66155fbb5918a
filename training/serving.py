"""The model in service, loaded once per process and swapped without a restart.

Each process keeps the loaded version in memory and asks the database which version
is active at most every ACTIVE_MODEL_CHECK_SECONDS, so a promotion or a rollback
reaches every web process within seconds. A file whose sha256 does not match its
registry row is refused before it is deserialised, and the last good version keeps
serving.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from . import artifacts, fastpath
from .models import ModelVersion

logger = logging.getLogger(__name__)

# A refused file is read and hashed again when it changes on disk, or after this long anyway
# (a file restored in place with its old time stamp), never on every request.
REFUSED_RETRY_SECONDS = 30.0


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


_state = _State()


def _signature(row: ModelVersion) -> tuple:
    try:
        stat = (Path(settings.ARTIFACTS_DIR) / row.artifact_path).stat()
    except OSError:
        return ()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def refusal() -> str | None:
    """Why no model answers although a version is active (its file was refused), or None."""
    return _state.refusal if _state.loaded is None else None


def load_version(row: ModelVersion) -> LoadedModel:
    """Verify and load one version's artifact (raises artifacts.ArtifactError)."""
    path = Path(settings.ARTIFACTS_DIR) / row.artifact_path
    payload = artifacts.load_artifact(path, row.artifact_sha256)
    return LoadedModel(
        version_id=row.pk,
        version=row.version,
        algorithm=row.algorithm,
        threshold=float(row.threshold),
        pipeline=payload["pipeline"],
        predictor=fastpath.compile_predictor(payload["pipeline"]),
    )


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
    try:
        state.loaded = load_version(row)
    except artifacts.ArtifactError as exc:
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
        return
    state.refused.pop(key, None)
    state.refusal = None
    logger.info("model_loaded version=%s algorithm=%s", row.version, row.algorithm)


def reset_cache() -> None:
    """Forget the loaded model (tests, and after a restore)."""
    with _state.lock:
        _state.loaded = None
        _state.checked_at = float("-inf")
        _state.refused.clear()
        _state.refusal = None
