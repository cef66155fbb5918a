"""Immutable, verified model files: nothing is unpickled before its hash checks out."""

from __future__ import annotations

import hashlib
import os

import joblib
import numpy as np
import pytest

from training import artifacts
from training import pipeline as P
from training.artifacts import ArtifactError, load_artifact, sha256_file, write_artifact
from training.datagen import generate_students
from training.features import FEATURE_NAMES


class LeavesAMarker:
    """Unpickling this object creates a file: the side effect of a hostile pickle."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def fitted():
    frame = generate_students(600, seed=2)
    model = P.build_pipeline("logistic_regression").fit(
        P.features_of(frame), frame["Depression"].astype(int)
    )
    return model, frame


def _payload(model) -> dict:
    return {
        "format_version": artifacts.FORMAT_VERSION,
        "algorithm": "logistic_regression",
        "pipeline": model,
        "threshold": 0.25,
        "features": list(FEATURE_NAMES),
        "library_versions": artifacts.library_versions(),
    }


def _flip_one_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_it_round_trips_a_payload(tmp_path, fitted):
    model, frame = fitted
    path, sha, size = write_artifact(tmp_path / "models", "m.joblib", _payload(model))
    assert path == tmp_path / "models" / "m.joblib"
    assert sha == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert size == path.stat().st_size > 0
    loaded = load_artifact(path, sha.upper())  # the hex case does not matter
    assert loaded["threshold"] == 0.25 and loaded["features"] == list(FEATURE_NAMES)
    assert np.array_equal(P.predict_proba(loaded["pipeline"], frame), P.predict_proba(model, frame))
    assert set(loaded["library_versions"]) == {"python", "sklearn", "xgboost", "numpy", "pandas"}


def test_it_leaves_no_part_file_after_success(tmp_path, fitted):
    write_artifact(tmp_path, "m.joblib", _payload(fitted[0]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.joblib"]


def test_it_refuses_to_overwrite_an_artifact(tmp_path, fitted):
    path, sha, _ = write_artifact(tmp_path, "m.joblib", _payload(fitted[0]))
    changed = {**_payload(fitted[0]), "threshold": 0.9}
    with pytest.raises(FileExistsError, match="immutable"):
        write_artifact(tmp_path, "m.joblib", changed)
    assert sha256_file(path) == sha
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.joblib"]


def test_it_removes_the_part_file_when_the_rename_fails(tmp_path, fitted, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(artifacts.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        write_artifact(tmp_path, "m.joblib", _payload(fitted[0]))
    assert list(tmp_path.iterdir()) == []


def test_it_refuses_to_write_an_invalid_payload(tmp_path, fitted):
    payload = _payload(fitted[0])
    del payload["threshold"]
    with pytest.raises(ValueError, match="threshold"):
        write_artifact(tmp_path, "m.joblib", payload)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("offset", [0, -1, 1000])
def test_it_refuses_a_file_with_one_byte_flipped(tmp_path, fitted, offset):
    path, sha, _ = write_artifact(tmp_path, "m.joblib", _payload(fitted[0]))
    _flip_one_byte(path, offset)
    with pytest.raises(ArtifactError, match="failed verification") as error:
        load_artifact(path, sha)
    assert sha in str(error.value) and sha256_file(path) in str(error.value)
    assert str(path) in str(error.value)


def test_it_refuses_a_truncated_file(tmp_path, fitted):
    path, sha, size = write_artifact(tmp_path, "m.joblib", _payload(fitted[0]))
    path.write_bytes(path.read_bytes()[: size // 2])
    with pytest.raises(ArtifactError, match="failed verification"):
        load_artifact(path, sha)


def test_it_refuses_a_missing_file_or_a_malformed_hash(tmp_path):
    with pytest.raises(ArtifactError, match="cannot be read"):
        load_artifact(tmp_path / "nope.joblib", "0" * 64)
    with pytest.raises(ArtifactError, match="not a hash"):
        load_artifact(tmp_path / "nope.joblib", "abc")


def test_it_checks_the_hash_before_unpickling_anything(tmp_path, fitted):
    # The proof has two halves: loading the hostile file leaves a marker, but
    # load_artifact() with the hash of the genuine file never gets that far.
    _, sha, _ = write_artifact(tmp_path, "m.joblib", _payload(fitted[0]))
    hostile = tmp_path / "m.joblib"
    control_marker = tmp_path / "control-marker"
    joblib.dump(LeavesAMarker(str(control_marker)), tmp_path / "control.joblib")
    joblib.load(tmp_path / "control.joblib")
    assert control_marker.exists()  # the side effect fires when unpickled

    marker = tmp_path / "marker"
    os.remove(hostile)
    joblib.dump({"format_version": 1, "evil": LeavesAMarker(str(marker))}, hostile)
    with pytest.raises(ArtifactError, match="failed verification"):
        load_artifact(hostile, sha)
    assert not marker.exists()


def test_it_refuses_a_verified_file_with_a_wrong_format_version(tmp_path, fitted):
    path = tmp_path / "old.joblib"
    joblib.dump({**_payload(fitted[0]), "format_version": 0}, path)
    with pytest.raises(ArtifactError, match="format_version"):
        load_artifact(path, sha256_file(path))


def test_it_refuses_a_verified_file_with_missing_keys_or_other_features(tmp_path, fitted):
    missing = tmp_path / "missing.joblib"
    joblib.dump({"format_version": artifacts.FORMAT_VERSION}, missing)
    with pytest.raises(ArtifactError, match="missing key"):
        load_artifact(missing, sha256_file(missing))
    other = tmp_path / "other.joblib"
    joblib.dump({**_payload(fitted[0]), "features": ["Age"]}, other)
    with pytest.raises(ArtifactError, match="features"):
        load_artifact(other, sha256_file(other))


def test_it_writes_raw_bytes_atomically_and_immutably(tmp_path):
    sha, size = artifacts.atomic_write_bytes(tmp_path / "sub" / "ref.bin", b"hello")
    assert sha == hashlib.sha256(b"hello").hexdigest() and size == 5
    with pytest.raises(FileExistsError):
        artifacts.atomic_write_bytes(tmp_path / "sub" / "ref.bin", b"other")
    assert (tmp_path / "sub" / "ref.bin").read_bytes() == b"hello"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["ref.bin"]
