"""Hand-run benchmark: time of a three-candidate training run, and its ROC AUC and file sizes.

    .venv/bin/python -m bench.train [--rows 100000] [--n-jobs 2] [--real PATH]

The script trains on generate_students(rows, seed=1) and prints, for each candidate, its fit
time, its test ROC AUC and the size of its artifact (written to a temporary directory that
is then removed). With --real, it also trains on a real Kaggle-format CSV and compares each
candidate with the majority baseline. Nothing is written to the project.

Each figure but AP is shown with its 95 % percentile bootstrap interval over the test rows
(training.uncertainty, 1,000 resamples, the seed of the split), as "0.716 [0.673, 0.758]";
average precision has no weighted form there and is shown alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from training import artifacts, datagen, uncertainty
from training import pipeline as P

SEED = 42
_COLUMNS = (
    ("roc_auc", "ROC AUC"),
    ("average_precision", "AP"),
    ("f1", "F1"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("balanced_accuracy", "bal. acc."),
    ("accuracy", "accuracy"),
)


def _cell(key: str, metrics: dict, bounds: dict) -> str:
    value = metrics[key]
    low, high = bounds.get(key, {}).get("low"), bounds.get(key, {}).get("high")
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _row(name: str, metrics: dict, bounds: dict, extra: list[str]) -> str:
    cells = [name] + [_cell(key, metrics, bounds) for key, _ in _COLUMNS] + extra
    return "| " + " | ".join(cells) + " |"


def _intervals(y_true, proba, threshold: float) -> dict:
    keys = [key for key, _ in _COLUMNS if key in uncertainty.PAIRED_METRICS]
    return uncertainty.intervals(y_true, proba, threshold, metrics=keys, seed=SEED)


def _report(title: str, frame, n_jobs: int, sizes: bool) -> None:
    """A markdown table of the candidates' test-split metrics against the majority baseline."""
    started = time.perf_counter()
    outcome = P.train_candidates(frame, seed=SEED, n_jobs=n_jobs)
    wall = time.perf_counter() - started
    baseline = P.baseline_metrics(outcome.split)
    print(f"\n{title}: {len(frame)} rows, {wall:.1f} s wall, winner {outcome.winner.algorithm}\n")
    header = ["model"] + [label for _, label in _COLUMNS] + ["threshold", "fit s", "file MB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    y_test = outcome.split.y_test
    constant = np.full(len(y_test), float(np.mean(outcome.split.y_train)))
    # The baseline's only uncertain figure is its accuracy (one minus the test prevalence).
    bounds = {"accuracy": _intervals(y_test, constant, 1.0)["accuracy"]}
    print(_row("majority baseline", baseline, bounds, ["—"] * 3))
    with tempfile.TemporaryDirectory() as directory:
        for r in outcome.results:
            size = "—"
            if sizes:
                payload = {
                    "format_version": artifacts.FORMAT_VERSION,
                    "algorithm": r.algorithm,
                    "pipeline": r.pipeline,
                    "threshold": r.threshold,
                    "features": list(P.FEATURE_NAMES),
                    "library_versions": artifacts.library_versions(),
                }
                _, _, n = artifacts.write_artifact(directory, f"{r.algorithm}.joblib", payload)
                size = f"{n / 1e6:.2f}"
            extra = [f"{r.threshold:.3f}", f"{r.fit_seconds:.2f}", size]
            bounds = _intervals(y_test, r.test_proba, r.threshold)
            print(_row(r.algorithm, r.test_metrics, bounds, extra))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--real", help="a real Kaggle-format CSV to train on as well")
    args = parser.parse_args()
    _report("generated", datagen.generate_students(args.rows, seed=1), args.n_jobs, sizes=True)
    if args.real:
        frame, stats = datagen.read_students_csv(args.real)
        print(f"read {args.real}: {stats}")
        _report("real", frame, args.n_jobs, sizes=False)


if __name__ == "__main__":
    main()
