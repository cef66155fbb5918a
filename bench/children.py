"""Measurements that run in a child process of their own (`python -m bench.children NAME`).

Each prints one JSON object on its last line. The child has the benchmark's environment, so
it reads the bench database and writes under the bench's temporary folder.

    candidates  the three candidates fitted on the reference rows: file size, test ROC AUC,
                and the model's own cost (compiled fast path vs scikit-learn) for one row
                and for 10,000 rows; plus an unbounded Random Forest for comparison.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time


def _setup():
    import django

    django.setup()


def _per_call_us(function, rows, repeat: int = 1) -> float:
    """Median wall time of one call, in microseconds."""
    timings = []
    for _ in range(repeat):
        for row in rows:
            started = time.perf_counter_ns()
            function(row)
            timings.append(time.perf_counter_ns() - started)
    return statistics.median(timings) / 1000


def _batch_ms(function, frame, repeat: int = 5) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function(frame)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def model_cost(pipeline, frame, features_names) -> dict:
    """One row and 10,000 rows, through the compiled predictor and through scikit-learn."""
    import pandas as pd

    from training import fastpath

    predictor = fastpath.compile_predictor(pipeline)
    records = frame[list(features_names)].head(2000).to_dict("records")
    one_frames = [pd.DataFrame([r], columns=list(features_names)) for r in records[:300]]
    batch = frame[list(features_names)].head(10_000)
    return {
        "compiled": predictor.compiled,
        "fast_one_us": _per_call_us(predictor.predict_proba_one, records, repeat=3),
        **_calibrated_cost(pipeline, frame, features_names, records),
        "sklearn_one_us": _per_call_us(lambda f: pipeline.predict_proba(f)[0, 1], one_frames),
        "fast_10k_ms": _batch_ms(predictor.predict_proba, batch),
        "sklearn_10k_ms": _batch_ms(lambda f: pipeline.predict_proba(f)[:, 1], batch),
    }


def _calibrated_cost(pipeline, frame, features_names, records) -> dict:
    """The same model behind an isotonic calibrator (the costlier of the two maps: a binary
    search over its knots), fitted on the frame's own labels: what calibration adds to a row.
    The fast path must stay within its per-row cost: CALIBRATION_BUDGET_US more at most.

    The two paths are timed in turn on each row, so that a burst of load from another
    process hits both alike, in alternating order (the second call on a row finds the caches
    warm); the extra cost is the median of the per-row differences."""
    import numpy as np

    from training import calibration, fastpath

    if isinstance(pipeline, calibration.CalibratedPipeline):
        pipeline = pipeline.pipeline
    scores = np.asarray(pipeline.predict_proba(frame[list(features_names)])[:, 1])
    labels = frame["Depression"].astype(int).to_numpy()
    fitted = calibration.fit_calibrator(labels, scores, "isotonic")
    plain = fastpath.compile_predictor(pipeline)
    wrapped = fastpath.compile_predictor(calibration.CalibratedPipeline(pipeline, fitted))
    timings: dict[bool, list[int]] = {False: [], True: []}  # calibrated? -> ns per call
    for _ in range(3):
        for index, row in enumerate(records):
            for calibrated in (False, True) if index % 2 else (True, False):
                function = (wrapped if calibrated else plain).predict_proba_one
                started = time.perf_counter_ns()
                function(row)
                timings[calibrated].append(time.perf_counter_ns() - started)
    plain_ns, calibrated_ns = timings[False], timings[True]
    extra = [c - p for p, c in zip(plain_ns, calibrated_ns, strict=True)]
    return {
        "calibrated_compiled": wrapped.compiled,
        "calibrated_knots": len(fitted.x),
        "calibrated_one_us": statistics.median(calibrated_ns) / 1000,
        "uncalibrated_paired_one_us": statistics.median(plain_ns) / 1000,
        "calibrated_extra_us": statistics.median(extra) / 1000,
    }


# Per-row microseconds that the calibration step may add to the compiled fast path.
CALIBRATION_BUDGET_US = 2.0


def candidates(unbounded_forest: bool = True) -> dict:
    _setup()
    from django.conf import settings

    from training import artifacts, datagen, selectors
    from training import pipeline as P
    from training.features import FEATURE_NAMES

    frame = selectors.reference_dataframe()
    outcome = P.train_candidates(frame, seed=settings.TRAINING_SEED, n_jobs=2)
    scoring = datagen.generate_students(12_000, seed=99).dropna().reset_index(drop=True)
    found = {}
    with tempfile.TemporaryDirectory() as directory:
        for result in outcome.results:
            payload = _payload(result.algorithm, result.pipeline, result.threshold)
            _, _, size = artifacts.write_artifact(directory, f"{result.algorithm}.joblib", payload)
            found[result.algorithm] = {
                "fit_seconds": result.fit_seconds,
                "file_mb": size / 1e6,
                "test_roc_auc": result.test_metrics["roc_auc"],
                "winner": result is outcome.winner,
                **model_cost(result.pipeline, scoring, FEATURE_NAMES),
            }
        if unbounded_forest:
            found["random_forest_unbounded"] = _unbounded_forest(outcome.split, directory)
    return {"rows": len(frame), "candidates": found}


def _payload(algorithm: str, pipeline, threshold: float) -> dict:
    """What model_register writes, so that the sizes are those of real artifacts."""
    from training import artifacts
    from training.features import FEATURE_NAMES

    return {
        "format_version": artifacts.FORMAT_VERSION,
        "algorithm": algorithm,
        "pipeline": pipeline,
        "threshold": float(threshold),
        "features": list(FEATURE_NAMES),
        "library_versions": artifacts.library_versions(),
    }


def _unbounded_forest(split, directory) -> dict:
    """scikit-learn's default forest (no depth or leaf limit): what the limits save."""
    from training import artifacts
    from training import pipeline as P

    pipeline = P.build_pipeline("random_forest", seed=42, n_jobs=2)
    pipeline.set_params(model__max_depth=None, model__min_samples_leaf=1)
    started = time.perf_counter()
    pipeline.fit(split.X_train, split.y_train)
    fit_seconds = time.perf_counter() - started
    proba = P.predict_proba(pipeline, split.X_test)
    metrics = P.evaluate(split.y_test, proba, 0.5)
    payload = _payload("random_forest", pipeline, 0.5)
    _, _, size = artifacts.write_artifact(directory, "rf-unbounded.joblib", payload)
    return {"fit_seconds": fit_seconds, "file_mb": size / 1e6, "test_roc_auc": metrics["roc_auc"]}


if __name__ == "__main__":
    name = sys.argv[1]
    if name == "candidates":
        print(json.dumps(candidates(unbounded_forest="--no-unbounded" not in sys.argv)))
    else:
        raise SystemExit(f"unknown measurement {name!r}")
