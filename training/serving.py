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
        self.refused: set[tuple[int, str]] = set()


_state = _State()


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
        row = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
        state.checked_at = time.monotonic()
        if row is None:
            state.loaded = None
            return None
        if state.loaded is not None and state.loaded.version_id == row.pk:
            return state.loaded
        key = (row.pk, row.artifact_sha256)
        if key in state.refused:
            return state.loaded
        try:
            state.loaded = load_version(row)
            logger.info("model_loaded version=%s algorithm=%s", row.version, row.algorithm)
        except artifacts.ArtifactError as exc:
            state.refused.add(key)
            logger.error(
                "model_refused version=%s error=%s serving=%s",
                row.version,
                exc,
                state.loaded and state.loaded.version,
            )
        return state.loaded


def reset_cache() -> None:
    """Forget the loaded model (tests, and after a restore)."""
    with _state.lock:
        _state.loaded = None
        _state.checked_at = float("-inf")
        _state.refused.clear()
