"""The factors behind one stored estimate, for the result page.

The contributions come from the model that answered (training.explain): coefficient x
standardised value for logistic regression, TreeSHAP for XGBoost, decision-path
contributions for a random forest. The active version is taken from serving's cache; an older
version is loaded once and kept in a small per-process cache, so reloading a result page does
not unpickle a model each time.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from training import serving
from training.artifacts import ArtifactError
from training.explain import ExplainError, explain

from . import labels, selectors
from .models import Prediction

logger = logging.getLogger(__name__)

OLD_VERSIONS_KEPT = 2
_old_versions: OrderedDict = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class Factor:
    feature: str
    label: str
    value: object
    unit: str
    contribution: float
    share: int  # 0-100: the bar's width, relative to the largest factor of this estimate


@dataclass
class Factors:
    available: bool
    raising: list[Factor] = field(default_factory=list)
    lowering: list[Factor] = field(default_factory=list)
    advice: list[dict] = field(default_factory=list)  # {"label", "direction", "text"}


def factors_for(prediction: Prediction) -> Factors:
    loaded = _model_of(prediction)
    if loaded is None:
        return Factors(available=False)
    features = selectors.features_of(prediction)
    try:
        explanation = explain(loaded.predictor, features)
    except ExplainError as exc:
        logger.info("explanation_unavailable version_id=%s reason=%s", loaded.version_id, exc)
        return Factors(available=False)
    items = [item for item in explanation.contributions if item["contribution"] != 0]
    largest = max((abs(item["contribution"]) for item in items), default=0.0) or 1.0
    result = Factors(available=True)
    for item in items:
        name = item["feature"]
        factor = Factor(
            feature=name,
            label=labels.LABELS.get(name, name),
            value=labels.CHOICE_LABELS.get(features[name], features[name]),
            unit=labels.SHORT_UNITS.get(name, ""),
            contribution=item["contribution"],
            share=max(4, round(100 * abs(item["contribution"]) / largest)),
        )
        (result.raising if item["direction"] == "raises" else result.lowering).append(factor)
        advice = labels.ADVICE.get(name, {}).get(item["direction"])
        if item["direction"] == "lowers" and not labels.encouragement_is_true(name, features[name]):
            advice = None  # never praise a value the advice's own words would not call healthy
        if advice:
            result.advice.append(
                {"label": factor.label, "direction": item["direction"], "text": advice}
            )
    # What could help first, encouragement after.
    result.advice.sort(key=lambda entry: entry["direction"] != "raises")
    return result


def _model_of(prediction: Prediction):
    active = serving.get_active_model()
    if active is not None and active.version_id == prediction.model_version_id:
        return active
    row = prediction.model_version
    key = (row.pk, row.artifact_sha256)
    with _lock:
        if key in _old_versions:
            _old_versions.move_to_end(key)
            return _old_versions[key]
    try:
        loaded = serving.load_version(row)
    except ArtifactError as exc:
        logger.warning("explanation_model_unavailable version=%s error=%s", row.version, exc)
        return None
    with _lock:
        _old_versions[key] = loaded
        while len(_old_versions) > OLD_VERSIONS_KEPT:
            _old_versions.popitem(last=False)
    return loaded


def clear_cache() -> None:
    with _lock:
        _old_versions.clear()
