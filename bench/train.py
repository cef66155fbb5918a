"""Hand-run benchmark: time of a three-candidate training run, and its ROC AUC and file sizes.

    .venv/bin/python -m bench.train [--rows 100000] [--n-jobs 2] [--real PATH]

The script trains on generate_students(rows, seed=1) and prints, for each candidate, its fit
time, its test ROC AUC and the size of its artifact (written to a temporary directory that
is then removed). With --real, it also trains on a real Kaggle-format CSV and compares each
candidate with the majority baseline. Nothing is written to the project.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from training import artifacts, datagen
from training import pipeline as P

_COLUMNS = (
    ("roc_auc", "ROC AUC"),
    ("average_precision", "AP"),
    ("f1", "F1"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("balanced_accuracy", "bal. acc."),
    ("accuracy", "accuracy"),
)


def _row(name: str, metrics: dict, extra: list[str]) -> str:
    cells = [name] + [f"{metrics[key]:.3f}" for key, _ in _COLUMNS] + extra
    return "| " + " | ".join(cells) + " |"


def _report(title: str, frame, n_jobs: int, sizes: bool) -> None:
    """A markdown table of the candidates' test-split metrics against the majority baseline."""
    started = time.perf_counter()
    outcome = P.train_candidates(frame, seed=42, n_jobs=n_jobs)
    wall = time.perf_counter() - started
    baseline = P.baseline_metrics(outcome.split)
    print(f"\n{title}: {len(frame)} rows, {wall:.1f} s wall, winner {outcome.winner.algorithm}\n")
    header = ["model"] + [label for _, label in _COLUMNS] + ["threshold", "fit s", "file MB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print(_row("majority baseline", baseline, ["—", "—", "—"]))
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
            print(_row(r.algorithm, r.test_metrics, extra))


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
