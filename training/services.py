"""Writes of the training app: the reference dataset and the model registry.

Commands, tasks, admin actions and API views call these functions and hold no
logic of their own.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from filestore import files

from . import artifacts, card, datagen, fairness, pipeline, uncertainty
from .features import FEATURE_NAMES, TARGET
from .models import ActivationEvent, DatasetImport, ModelVersion, RetrainRun, StudentRecord
from .selectors import FIELD_OF

logger = logging.getLogger(__name__)

IMPORT_BATCH_SIZE = 5000


# --- Reference dataset -------------------------------------------------------------------------


def dataset_import_csv(path: str | Path, *, progress: Callable[[int, int], None] | None = None):
    """Import a Kaggle-format CSV into the reference dataset; the same file twice adds nothing."""
    path = Path(path)
    sha256 = artifacts.sha256_file(path)
    existing = DatasetImport.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing, False
    frame, stats = datagen.read_students_csv(path)
    record = _dataset_store(frame, source=str(path), sha256=sha256, progress=progress)
    record.rows_read = stats.rows_read
    record.skipped = dict(stats.skipped)
    record.missing = {k: v for k, v in stats.missing.items() if v}
    record.save(update_fields=["rows_read", "skipped", "missing"])
    return record, True


def dataset_generate(*, rows: int, seed: int, progress=None):
    """Load a generated dataset (deterministic for a seed) into the reference dataset."""
    frame = datagen.generate_students(rows, seed)
    buffer = io.StringIO()
    datagen.write_csv(frame, buffer)
    sha256 = hashlib.sha256(buffer.getvalue().encode()).hexdigest()
    existing = DatasetImport.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing, False
    record = _dataset_store(
        frame, source=f"generated rows={rows} seed={seed}", sha256=sha256, progress=progress
    )
    record.rows_read = rows
    record.missing = {c: int(n) for c, n in frame[list(FEATURE_NAMES)].isna().sum().items() if n}
    record.save(update_fields=["rows_read", "missing"])
    return record, True


def _dataset_store(frame: pd.DataFrame, *, source: str, sha256: str, progress) -> DatasetImport:
    with transaction.atomic():
        dataset = DatasetImport.objects.create(source=source[:500], sha256=sha256)
        ids = (
            frame["Student_ID"] if "Student_ID" in frame.columns else pd.Series([None] * len(frame))
        )
        columns = {name: frame[name].tolist() for name in FEATURE_NAMES}
        targets = frame[TARGET].tolist()
        student_ids = ids.tolist()
        total = len(frame)
        for start in range(0, total, IMPORT_BATCH_SIZE):
            stop = min(start + IMPORT_BATCH_SIZE, total)
            batch = [
                StudentRecord(
                    dataset=dataset,
                    source_row=i + 1,
                    student_id=_int_or_none(student_ids[i]),
                    depression=bool(targets[i]),
                    **{FIELD_OF[name]: _clean(name, columns[name][i]) for name in FEATURE_NAMES},
                )
                for i in range(start, stop)
            ]
            StudentRecord.objects.bulk_create(batch, ignore_conflicts=True)
            if progress:
                progress(stop, total)
        dataset.rows_added = total
        dataset.save(update_fields=["rows_added"])
    return dataset


def _int_or_none(value):
    if value is None or pd.isna(value):
        return None
    return int(value)


def _clean(name: str, value):
    if name in ("Gender", "Department"):
        return value
    if value is None or pd.isna(value):
        return None
    if name in ("Age", "Physical_Activity", "Stress_Level"):
        return round(float(value))
    return float(value)


# --- Model registry ----------------------------------------------------------------------------


def model_train(
    frame: pd.DataFrame,
    *,
    metric: str | None = None,
    progress: Callable | None = None,
) -> pipeline.TrainingOutcome:
    """Train the three candidates on a frame in the Kaggle schema (pure; writes nothing)."""
    return pipeline.train_candidates(
        frame,
        seed=settings.TRAINING_SEED,
        metric=metric or settings.MODEL_SELECTION_METRIC,
        use_pca=settings.TRAINING_USE_PCA,
        n_jobs=settings.TRAINING_N_JOBS,
        progress=progress,
        max_ece=settings.MAX_ECE,
    )


def candidates_summary(outcome: pipeline.TrainingOutcome) -> list[dict]:
    return [
        {
            "algorithm": r.algorithm,
            "threshold": r.threshold,
            "fit_seconds": r.fit_seconds,
            "validation": r.val_metrics,
            "test": r.test_metrics,
            "calibration": {k: v for k, v in r.calibration.items() if "reliability" not in k},
            "params": r.params,
            "winner": r.algorithm == outcome.winner.algorithm,
        }
        for r in outcome.results
    ]


def model_register(
    outcome: pipeline.TrainingOutcome,
    *,
    status: str = ModelVersion.Status.RETIRED,
    metric: str | None = None,
    run: RetrainRun | None = None,
) -> ModelVersion:
    """Write the winner's immutable artifact and reference file, then record the version.

    A crash between the file writes and the row leaves only unreferenced files behind
    (their names are unique); the version in service is never touched here.
    """
    winner = outcome.winner
    token = uuid.uuid4().hex[:8]
    next_version = (ModelVersion.objects.aggregate(m=Max("version"))["m"] or 0) + 1
    test_proba = pipeline.predict_proba(winner.pipeline, outcome.split.X_test)
    payload = {
        "format_version": artifacts.FORMAT_VERSION,
        "algorithm": winner.algorithm,
        "pipeline": winner.pipeline,
        "threshold": float(winner.threshold),
        "features": list(FEATURE_NAMES),
        "library_versions": artifacts.library_versions(),
    }
    model_name = f"model-v{next_version:04d}-{winner.algorithm}-{token}.joblib"
    model_bytes = artifacts.dump_artifact(payload, name=model_name)
    model_sha, model_size = files.save_new(files.ARTIFACTS, model_name, model_bytes)
    reference_name = f"reference-v{next_version:04d}-{token}.parquet"
    reference_sha = _write_reference(outcome, reference_name)
    return ModelVersion.objects.create(
        version=next_version,
        algorithm=winner.algorithm,
        status=status,
        params=winner.params,
        metrics=winner.test_metrics,
        intervals=uncertainty.intervals(
            outcome.split.y_test, test_proba, winner.threshold, seed=settings.TRAINING_SEED
        ),
        calibration=winner.calibration,
        groups=fairness.group_table(
            outcome.split.X_test, outcome.split.y_test, test_proba, winner.threshold
        ),
        data_summary=card.data_summary(outcome, _sources(run)),
        candidates=candidates_summary(outcome),
        selection_metric=metric or settings.MODEL_SELECTION_METRIC,
        threshold=float(winner.threshold),
        train_rows=int(outcome.rows),
        data_fingerprint=outcome.fingerprint,
        seed=settings.TRAINING_SEED,
        library_versions=artifacts.library_versions(),
        artifact_path=model_name,
        artifact_sha256=model_sha,
        artifact_size=model_size,
        reference_path=reference_name,
        reference_sha256=reference_sha,
        run=run,
    )


def _sources(run: RetrainRun | None) -> list[dict]:
    """Where the training rows came from: each imported file (its name, not the server's
    path) and the production rows a retrain claimed."""
    sources = [
        {
            "source": Path(d.source).name if "/" in d.source else d.source,
            "rows": d.rows_added,
            "date": d.created_at.date().isoformat(),
        }
        for d in DatasetImport.objects.order_by("created_at")
    ]
    if run is not None and run.rows_production:
        sources.append(
            {
                "source": f"production predictions with feedback (retrain #{run.pk})",
                "rows": run.rows_production,
                "date": run.started_at.date().isoformat(),
            }
        )
    return sources


def _write_reference(outcome: pipeline.TrainingOutcome, file_name: str) -> str:
    """Store the training data with its split, and the model's own scores on the held-out test
    rows; returns the file's sha256."""
    split = outcome.split
    parts = []
    for name, features, target in (
        ("train", split.X_train, split.y_train),
        ("validation", split.X_val, split.y_val),
        ("test", split.X_test, split.y_test),
    ):
        part = features.reset_index(drop=True).copy()
        part[TARGET] = pd.Series(target).reset_index(drop=True).astype(int)
        part["split"] = name
        part["probability"] = float("nan")
        if name == "test":
            part["probability"] = pipeline.predict_proba(outcome.winner.pipeline, features)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["prediction"] = (frame["probability"] >= outcome.winner.threshold).astype(int)
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    sha, _size = files.save_new(files.ARTIFACTS, file_name, buffer.getvalue())
    return sha


def model_activate(version: ModelVersion, *, by=None, reason: str) -> ModelVersion:
    """Put a version in service in one transaction (promotion, first model, or rollback)."""
    with transaction.atomic():
        current = (
            ModelVersion.objects.select_for_update()
            .filter(status=ModelVersion.Status.ACTIVE)
            .first()
        )
        if current is not None and current.pk == version.pk:
            return current
        if current is not None:
            current.status = ModelVersion.Status.RETIRED
            current.save(update_fields=["status"])
        version.status = ModelVersion.Status.ACTIVE
        version.activated_at = timezone.now()
        version.save(update_fields=["status", "activated_at"])
        ActivationEvent.objects.create(
            version=version, previous=current, activated_by=by, reason=reason[:500]
        )
    logger.info(
        "model_activated version=%s previous=%s", version.version, current and current.version
    )
    return version


def model_activate_verified(version: ModelVersion, *, by=None, reason: str) -> ModelVersion:
    """Activate a version after checking that its file loads (rollback from the admin).

    A file that fails its sha256 check would be refused by every process, which would keep
    serving the version they had; refusing here says so to the person asking instead.
    Raises artifacts.ArtifactError.
    """
    from .serving import load_version

    load_version(version)
    return model_activate(version, by=by, reason=reason)


def model_train_initial(*, progress: Callable | None = None, by=None) -> ModelVersion:
    """Train on the whole reference dataset and put the winner in service (`manage.py train`)."""
    from .selectors import reference_dataframe

    frame = reference_dataframe()
    if frame.empty:
        raise ValueError(
            "The reference dataset is empty: run `manage.py import_students PATH` "
            "or `manage.py generate_students` first."
        )
    outcome = model_train(frame, progress=progress)
    version = model_register(outcome)
    return model_activate(version, by=by, reason="trained with manage.py train")


def model_evidence_backfill(version: ModelVersion, *, dry_run: bool = False) -> list[str]:
    """Give a version registered before calibration, intervals and the group table its
    figures, from the test rows and scores of its own registered reference file (verified
    against its sha256). Returns the fields filled (none when it has them all already). The
    existing metric fields are kept; ece and log_loss are added beside them."""
    missing = [f for f in ("intervals", "groups", "calibration") if not getattr(version, f)]
    if "ece" not in version.metrics:
        missing.append("metrics")
    if not version.data_summary:
        missing.append("data_summary")
    if not missing or dry_run:
        return missing
    try:
        data = files.read_verified(
            files.ARTIFACTS, version.reference_path, version.reference_sha256
        )
    except (OSError, files.VerificationError) as exc:
        raise artifacts.ArtifactError(f"{version.reference_path}: {exc}") from exc
    frame = pd.read_parquet(io.BytesIO(data))
    test = frame[(frame["split"] == "test") & frame["probability"].notna()]
    y = test[TARGET].astype(int).to_numpy()
    proba = test["probability"].astype(float).to_numpy()
    features = test.loc[:, list(FEATURE_NAMES)].reset_index(drop=True)
    t = float(version.threshold)
    if "metrics" in missing:
        scored = pipeline.evaluate(y, proba, t)
        version.metrics = {**version.metrics, "ece": scored["ece"], "log_loss": scored["log_loss"]}
    if "intervals" in missing:
        version.intervals = uncertainty.intervals(y, proba, t, seed=version.seed)
    if "groups" in missing:
        version.groups = fairness.group_table(features, y, proba, t)
    if "calibration" in missing:
        from .calibration import ECE_BINS, expected_calibration_error, reliability_curve

        version.calibration = {
            "bins": ECE_BINS,
            "binning": "equal-width",
            "method": "none (registered before calibration)",
            "test_ece": expected_calibration_error(y, proba),
            "test_reliability": reliability_curve(y, proba),
        }
    if "data_summary" in missing:
        parts = {name: frame[frame["split"] == name] for name in ("train", "validation", "test")}
        split = pipeline.DatasetSplit(
            *(
                value
                for name in ("train", "validation", "test")
                for value in (
                    parts[name].loc[:, list(FEATURE_NAMES)].reset_index(drop=True),
                    parts[name][TARGET].astype(int).to_numpy(),
                )
            )
        )
        # data_summary reads the outcome's split and row count: there is no winner here.
        version.data_summary = card.data_summary(SimpleNamespace(split=split, rows=len(frame)))
    version.save(update_fields=[*missing])
    return missing
