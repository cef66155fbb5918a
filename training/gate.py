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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings

from . import artifacts, pipeline, serving
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


def compare(
    outcome: pipeline.TrainingOutcome, champion: ModelVersion | None, *, metric: str, tolerance
) -> Comparison:
    split, winner = outcome.split, outcome.winner
    total = len(split.y_test)
    if champion is None:
        return _decided(
            winner.test_metrics,
            None,
            total,
            total,
            metric,
            tolerance,
            ["no model in service to compare with"],
        )
    try:
        loaded = serving.load_version(champion)  # verifies the file's sha256 first
    except artifacts.ArtifactError as exc:
        note = f"the model in service (v{champion.version}) cannot be loaded: {exc}"
        return _decided(winner.test_metrics, None, total, total, metric, tolerance, [note])
    mask, note = unseen_rows(champion, split)
    X, y = split.X_test.loc[mask], split.y_test[mask]
    challenger = pipeline.evaluate(y, pipeline.predict_proba(winner.pipeline, X), winner.threshold)
    defending = pipeline.evaluate(y, pipeline.predict_proba(loaded.pipeline, X), loaded.threshold)
    return _decided(challenger, defending, int(mask.sum()), total, metric, tolerance, [note])


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
    """(promote?, why): the challenger may be worse than the champion by `tolerance` at most."""
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
    path = Path(settings.ARTIFACTS_DIR) / champion.reference_path
    try:
        if artifacts.sha256_file(path) != champion.reference_sha256:
            raise ValueError("its sha256 does not match the registry")
        seen = pd.read_parquet(path, columns=[*FEATURE_NAMES, "split"])
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
