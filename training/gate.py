"""The champion/challenger gate: both models scored on the same held-out rows, which neither
of them trained on.

The challengers' test split is cut from the merged data (reference + newly claimed rows). The
model in service was usually trained on the same reference rows, so part of that split is its
own training data, and its score there is optimistic. The split is stratified and seeded, so
which rows overlap depends on the class. Measured on 100,000 reference + 10,000 production
rows: 3,210 of the 22,000 test rows, including 1,667 of the 2,272 positives, were training
rows of the model in service. On the full split it scored roc_auc 0.714 against 0.696 for the
best challenger. On the 18,790 rows neither had seen: 0.716 against 0.713. So scoring on the
full split would have rejected nearly every retrain. The gate therefore keeps the test rows
absent from the champion's training and validation rows, as recorded in its registered
reference file, and scores both models on those rows, each at its own threshold. When too few
such rows remain, both models are scored on the whole test split. That favours the model in
service, which is the conservative way to err, and the reason says so.

The merged data holds the reference rows and the usable labels only (trusted sources, no
client key above its share: predictions.selectors.usable_labels), so the held-out rows the
gate scores on are reference rows and trusted labels, never anyone's labels.
The rule is a non-inferiority test on paired rows: both models score the same compared rows,
the difference challenger - champion of the selection metric is bootstrapped over shared
resamples, and the challenger is promoted when the lower end of its 95 % interval is at least
-PROMOTION_TOLERANCE (for a loss such as Brier, the upper end at most +tolerance). Two more
checks can refuse it: its ECE on the test split above MAX_ECE, and a worst recall gap between
groups (Gender, Department) wider than the champion's by more than GROUP_GAP_TOLERANCE. A
refused challenger stays registered; staff can still put it in service from the admin.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings

from filestore import files

from . import artifacts, fairness, pipeline, serving, uncertainty
from .features import CATEGORICAL_FEATURES, FEATURE_NAMES
from .models import ModelVersion


@dataclass
class Comparison:
    promote: bool
    reason: str
    challenger: dict  # the winner's metrics on the compared rows
    champion: dict | None = None  # the model in service's metrics on the same rows
    rows: int = 0  # rows compared
    total: int = 0  # rows in the test split
    notes: list[str] = field(default_factory=list)
    # The paired difference with its interval and the calibration / fairness checks, as
    # recorded on the run (RetrainRun.comparison).
    evidence: dict = field(default_factory=dict)


def compare(
    outcome: pipeline.TrainingOutcome, champion: ModelVersion | None, *, metric: str, tolerance
) -> Comparison:
    split, winner = outcome.split, outcome.winner
    total = len(split.y_test)
    if champion is None:
        comparison = _decided(
            winner.test_metrics,
            None,
            total,
            total,
            metric,
            tolerance,
            ["no model in service to compare with"],
        )
        return _checked(comparison, outcome, None)
    try:
        loaded = serving.load_version(champion)  # verifies the file's sha256 first
    except artifacts.ArtifactError as exc:
        note = f"the model in service (v{champion.version}) cannot be loaded: {exc}"
        comparison = _decided(winner.test_metrics, None, total, total, metric, tolerance, [note])
        return _checked(comparison, outcome, None)
    mask, note = unseen_rows(champion, split)
    X, y = split.X_test.loc[mask], split.y_test[mask]
    p_challenger = pipeline.predict_proba(winner.pipeline, X)
    p_champion = pipeline.predict_proba(loaded.pipeline, X)
    challenger = pipeline.evaluate(y, p_challenger, winner.threshold)
    defending = pipeline.evaluate(y, p_champion, loaded.threshold)
    comparison = _decided(challenger, defending, int(mask.sum()), total, metric, tolerance, [note])
    if metric in uncertainty.PAIRED_METRICS:
        paired = uncertainty.paired_difference(
            y, (p_challenger, winner.threshold), (p_champion, loaded.threshold), metric
        )
        comparison.evidence["paired"] = paired
        comparison.promote, why = decide_paired(paired, metric=metric, tolerance=tolerance)
        comparison.reason = "; ".join([why, *comparison.notes])
    masks = fairness.gap_masks(X, y)
    gap = None
    if masks:
        gap = uncertainty.paired_gap_difference(
            y, masks, (p_challenger, winner.threshold), (p_champion, loaded.threshold)
        )
    return _checked(comparison, outcome, gap)


def decide_paired(paired: dict, *, metric: str, tolerance: float) -> tuple[bool, str]:
    """(promote?, why) by the 95 % interval of challenger - champion (see the docstring)."""
    low, high, diff = paired["low"], paired["high"], paired["difference"]
    if diff is None or low is None:
        return decide(paired["challenger"], paired["champion"], metric=metric, tolerance=tolerance)
    interval = f"[{low:+.4f}, {high:+.4f}]"
    if pipeline.HIGHER_IS_BETTER[metric]:
        ok, bound, rule = low >= -tolerance, low, f">= {-tolerance:+.4f}"
    else:
        ok, bound, rule = high <= tolerance, high, f"<= {tolerance:+.4f}"
    verdict = "not worse" if ok else "may be worse"
    return ok, (
        f"challenger {metric} {paired['challenger']:.4f} vs model in service "
        f"{paired['champion']:.4f}: difference {diff:+.4f}, 95% interval {interval} over "
        f"{paired['rows']} paired rows, {verdict} (bound {bound:+.4f}, needs {rule})"
    )


def _checked(comparison: Comparison, outcome, gap: dict | None) -> Comparison:
    """The calibration and fairness checks, after the comparison of the metric."""
    winner, split = outcome.winner, outcome.split
    max_ece, gap_tolerance = settings.MAX_ECE, settings.GROUP_GAP_TOLERANCE
    proba = pipeline.predict_proba(winner.pipeline, split.X_test)
    ece = uncertainty.intervals(split.y_test, proba, winner.threshold, metrics=("ece",))["ece"]
    evidence = comparison.evidence
    evidence["ece"] = {"challenger": ece, "max": max_ece}
    refusals = []
    # ECE is biased upwards on few rows (every bin's noise adds up), so the refusal needs the
    # whole interval above MAX_ECE: credibly miscalibrated, not unlucky on a small split.
    if ece["low"] is not None and ece["low"] > max_ece:
        refusals.append(
            f"its test ECE {ece['value']:.4f} (95% interval from {ece['low']:.4f}) exceeds "
            f"MAX_ECE {max_ece:g} after calibration"
        )
    if gap is not None:
        evidence["recall_gap"] = {**gap, "tolerance": gap_tolerance}
        # Group recalls rest on few positives each: only a widening the interval confirms
        # (its lower end above the tolerance) refuses the challenger.
        if gap["low"] is not None and gap["low"] > gap_tolerance:
            refusals.append(
                f"it widens the worst recall gap between groups from {gap['champion']:.3f} to "
                f"{gap['challenger']:.3f} (95% interval of the widening from {gap['low']:+.3f}, "
                f"GROUP_GAP_TOLERANCE {gap_tolerance:g})"
            )
    if refusals and comparison.promote:
        comparison.promote = False
        comparison.reason = "refused: " + "; ".join(refusals) + "; " + comparison.reason
    elif refusals:
        comparison.reason += "; also " + "; ".join(refusals)
    comparison.reason = comparison.reason[:500]
    return comparison


def _decided(challenger, champion, rows, total, metric, tolerance, notes) -> Comparison:
    promote, why = decide(
        challenger.get(metric),
        None if champion is None else champion.get(metric),
        metric=metric,
        tolerance=tolerance,
    )
    reason = "; ".join([why, *notes])
    return Comparison(promote, reason, challenger, champion, rows, total, notes)


def decide(challenger: float | None, champion: float | None, *, metric: str, tolerance: float):
    """(promote?, why) on point figures, when no paired interval exists: the challenger may be
    worse than the champion by `tolerance` at most."""
    if challenger is None:
        return False, f"the challenger's {metric} is undefined"
    if champion is None:
        return True, f"challenger {metric} {challenger:.4f}, no champion score to beat"
    if pipeline.HIGHER_IS_BETTER[metric]:
        bar, ok = champion - tolerance, challenger >= champion - tolerance
        sign = ">=" if ok else "<"
    else:
        bar, ok = champion + tolerance, challenger <= champion + tolerance
        sign = "<=" if ok else ">"
    return ok, (
        f"challenger {metric} {challenger:.4f} {sign} {bar:.4f} "
        f"(model in service {champion:.4f}, tolerance {tolerance:g})"
    )


def unseen_rows(champion: ModelVersion, split: pipeline.DatasetSplit) -> tuple[np.ndarray, str]:
    """Mask of the test rows whose features the champion never saw in training or validation."""
    total = len(split.y_test)
    everything = np.ones(total, dtype=bool)
    try:
        data = files.read_verified(
            files.ARTIFACTS, champion.reference_path, champion.reference_sha256
        )
        seen = pd.read_parquet(io.BytesIO(data), columns=[*FEATURE_NAMES, "split"])
    except (OSError, ValueError) as exc:
        return everything, (
            f"the training rows of v{champion.version} cannot be read ({exc}): compared on all "
            f"{total} test rows, which may favour the model in service"
        )
    seen = seen[seen["split"] != "test"]
    mask = ~np.isin(_row_keys(split.X_test), _row_keys(seen))
    unseen = int(mask.sum())
    if unseen < settings.MIN_LABELLED_ROWS or len(np.unique(split.y_test[mask])) < 2:
        return everything, (
            f"only {unseen} of the {total} test rows are new to v{champion.version}: compared "
            "on all of them, which favours the model in service"
        )
    return mask, f"compared on the {unseen} of {total} test rows v{champion.version} never saw"


def _row_keys(frame: pd.DataFrame) -> np.ndarray:
    """One hash per row of the nine features, the same for equal values whatever the dtypes."""
    canonical = pd.DataFrame(
        {
            name: frame[name].astype("string")
            if name in CATEGORICAL_FEATURES
            else pd.to_numeric(frame[name], errors="coerce").astype("float64")
            for name in FEATURE_NAMES
        }
    )
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy()
