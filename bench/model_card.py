"""Calibration, intervals, the group table and the CBPE check, measured on a student CSV.

    .venv/bin/python -m bench.model_card ../shared/data/student_lifestyle_sample.csv

Trains the three candidates exactly as `manage.py train` does (60/20/20 split, seed 42,
MAX_ECE 0.03) without touching any database, and prints Markdown: every candidate's ECE and
Brier before and after calibration, the winner's reliability diagram, its test metrics with
95 % bootstrap intervals, the Gender and Department table, the recall gaps, and the CBPE
estimate against the realised figures on the test split, before and after a simulated
concept shift (the labels of the test rows shuffled: the scores stay, the relation is gone).
Nothing of the CSV is written anywhere.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from monitoring import cbpe
from training import fairness, pipeline, uncertainty
from training.datagen import read_students_csv
from training.features import FEATURE_NAMES


def _f(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ci(entry: dict) -> str:
    return f"{_f(entry['value'])} [{_f(entry['low'])}, {_f(entry['high'])}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-ece", type=float, default=pipeline.MAX_ECE)
    parser.add_argument("--cost", action="store_true", help="also time the fast path per row")
    args = parser.parse_args(argv)

    frame, stats = read_students_csv(args.csv)
    outcome = pipeline.train_candidates(frame, seed=args.seed, max_ece=args.max_ece)
    split, winner = outcome.split, outcome.winner
    print(f"rows {outcome.rows} (read {stats.rows_read}); split {split.sizes}; seed {args.seed}")
    print(f"ECE: {winner.calibration['bins']} equal-width bins; MAX_ECE {args.max_ece}\n")

    print(
        "| candidate | val ECE before | test ECE before | calibration | test ECE after "
        "| test Brier before | after | test ROC AUC |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in outcome.results:
        c = r.calibration
        print(
            f"| {r.algorithm}{' (winner)' if r is winner else ''} | {_f(c['val_ece_before'])} "
            f"| {_f(c['test_ece_before'])} | {c['method']} | {_f(c['test_ece'])} "
            f"| {_f(c['test_brier_before'], 4)} | {_f(r.test_metrics['brier'], 4)} "
            f"| {_f(r.test_metrics['roc_auc'])} |"
        )

    print(f"\nReliability of the winner ({winner.algorithm}) on the test split:\n")
    print(
        "| bin | rows before | estimate before | observed before "
        "| rows after | estimate after | observed after |"
    )
    print("|---|---|---|---|---|---|---|")
    before = {b["low"]: b for b in winner.calibration["test_reliability_before"]}
    after = {b["low"]: b for b in winner.calibration["test_reliability"]}
    for low in sorted(set(before) | set(after)):
        b, a = before.get(low), after.get(low)
        cells = []
        for entry in (b, a):
            cells += (
                ["0", "–", "–"]
                if entry is None
                else [str(entry["count"]), _f(entry["mean_predicted"]), _f(entry["observed"])]
            )
        print(f"| {low:.1f}–{low + 0.1:.1f} | " + " | ".join(cells) + " |")

    print(
        f"\nWinner's test metrics at threshold {winner.threshold:.3f} (95 % bootstrap, "
        "1,000 resamples):\n"
    )
    bounds = uncertainty.intervals(split.y_test, winner.test_proba, winner.threshold, seed=42)
    for metric, entry in bounds.items():
        print(f"- {metric}: {_ci(entry)}")

    table = fairness.group_table(split.X_test, split.y_test, winner.test_proba, winner.threshold)
    for feature, part in table["features"].items():
        print(f"\n{feature} (recall gap {_f(part['recall_gap'])}):\n")
        print("| group | rows | positives | prevalence | recall | FPR | precision | ROC AUC |")
        print("|---|---|---|---|---|---|---|---|")
        for row in part["groups"]:
            cells = [_ci(row[m]) for m in fairness.GROUP_METRICS]
            print(
                f"| {row['group']} | {row['n']} | {row['positives']} | " + " | ".join(cells) + " |"
            )
    gaps = _gap_distribution(split, winner)
    print(
        f"\nWorst recall gap between groups on the test split: {_f(fairness.worst_gap(table))}; "
        f"over 200 bootstrap resamples of the test split its 95th percentile is {_f(gaps)} "
        "(the default of MAX_GROUP_RECALL_GAP comes from this figure)."
    )

    print(
        "\nCBPE on the test split (estimated from the calibrated probabilities alone vs "
        "realised with the labels):\n"
    )
    print("| metric | estimated | realised | realised after concept shift |")
    print("|---|---|---|---|")
    estimate = cbpe.estimate(winner.test_proba, winner.threshold)
    realised = pipeline.evaluate(split.y_test, winner.test_proba, winner.threshold)
    shifted = np.random.default_rng(args.seed).permutation(split.y_test)
    after_shift = pipeline.evaluate(shifted, winner.test_proba, winner.threshold)
    for metric in cbpe.ESTIMATED_METRICS:
        print(
            f"| {metric} | {_f(estimate[metric])} | {_f(realised[metric])} "
            f"| {_f(after_shift[metric])} |"
        )
    if args.cost:
        from .children import model_cost

        scored = frame.dropna().reset_index(drop=True)
        print("\nPer-row cost of the compiled fast path (median µs, this machine):\n")
        for r in outcome.results:
            cost = model_cost(r.pipeline, scored, FEATURE_NAMES)
            print(
                f"- {r.algorithm}: {cost['fast_one_us']:.1f} µs; behind an isotonic calibrator "
                f"({cost['calibrated_knots']} knots) {cost['calibrated_one_us']:.1f} µs "
                f"(compiled: {cost['calibrated_compiled']})"
            )
    return 0


def _gap_distribution(split, winner, resamples: int = 200) -> float | None:
    """95th percentile of the worst recall gap over bootstrap resamples of the test rows: how
    large a gap chance alone makes when the groups do not differ more than on this sample."""
    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(resamples):
        rows = rng.integers(0, len(split.y_test), len(split.y_test))
        table = fairness.group_table(
            split.X_test.iloc[rows],
            split.y_test[rows],
            winner.test_proba[rows],
            winner.threshold,
            resamples=0,
        )
        gap = fairness.worst_gap(table)
        if gap is not None:
            gaps.append(gap)
    return float(np.percentile(gaps, 95)) if gaps else None


if __name__ == "__main__":
    sys.exit(main())
