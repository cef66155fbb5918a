"""Why one estimate is what it is: per-feature contributions for a single row.

    result = explain(predictor_or_pipeline, features)
    result.bias + sum(item["contribution"] for item in result.contributions) == result.value

Every model gets one contribution per original feature (the one-hot columns of a categorical
are summed back to it), sorted by absolute size, each {"feature", "contribution",
"direction"}; "raises" means the feature pushes this estimate up, "lowers" down (a feature
with exactly zero contribution, e.g. one no tree splits on, is listed as "lowers").

The unit depends on the model (Explanation.unit):

* LogisticRegression, "log-odds": contribution = coefficient x standardised value (one-hot
  value for a category). With PCA the coefficients are mapped back through the components
  (w = components_.T @ coef_), so contribution = w x standardised value. bias = the intercept
  (plus the PCA centring term), value = the decision function (margin).
* XGBClassifier, "log-odds": XGBoost's exact TreeSHAP values (pred_contribs=True) of the
  transformed columns, summed per feature; bias = the expected margin over the training
  data including the base score; value = the margin. XGBoost computes these in float32, so
  bias + sum(contributions) matches the margin to ~1e-6, not to the last bit.
* RandomForestClassifier, "probability": Saabas decision-path contributions: along each
  tree's path, the change of the node's positive-class fraction is credited to the node's
  split feature; averaged over the trees. bias = the mean root fraction (the training
  prevalence seen by the trees), value = the forest's probability.

Trees behind a PCA are not explained (their splits are on components, which no feature owns
alone): explain raises ExplainError, as it does for a pipeline that does not compile.

Pure Python + numpy: no Django imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.fastpath import (
    BoostedTreesModel,
    CompiledPredictor,
    ForestModel,
    LinearModel,
    Predictor,
    compile_predictor,
)

__all__ = ["ExplainError", "Explanation", "contributions", "explain"]

LOG_ODDS = "log-odds"
PROBABILITY = "probability"


class ExplainError(ValueError):
    """The model cannot be explained (it does not compile, or trees sit behind a PCA)."""


@dataclass(frozen=True)
class Explanation:
    kind: str  # the predictor's kind: logistic_regression | random_forest | xgboost
    unit: str  # LOG_ODDS or PROBABILITY
    bias: float  # the baseline in `unit`
    value: float  # the model's margin (log-odds) or probability for this row
    probability: float  # the positive-class probability served for this row (calibrated)
    contributions: list[dict[str, Any]] = field(default_factory=list)


def contributions(pipeline_or_predictor: Any, features: Mapping[str, Any]) -> list[dict]:
    """Per-feature contributions to this one estimate, sorted by absolute size. The bias and
    the unit are in `explain(...)`; see the module docstring for the unit of each model."""
    return explain(pipeline_or_predictor, features).contributions


def explain(pipeline_or_predictor: Any, features: Mapping[str, Any]) -> Explanation:
    """Contributions, bias, value and unit for one row given as {feature name: value}."""
    predictor = _predictor(pipeline_or_predictor)
    model = predictor.model
    if isinstance(model, LinearModel):
        per_column, bias, value = _linear(predictor, model, features)
        unit, probability = LOG_ODDS, predictor.predict_proba_one(features)
    elif predictor.projection is not None:
        raise ExplainError("tree models behind a PCA are not explained")
    elif isinstance(model, ForestModel):
        per_column, bias, value = _forest(predictor, model, features)
        # A calibrated version serves calibrator(value); the contributions stay in the forest's
        # own probability, which the calibrator then maps monotonically.
        calibrated = predictor.calibrator is not None
        unit, probability = (
            PROBABILITY,
            predictor.predict_proba_one(features) if calibrated else value,
        )
    elif isinstance(model, BoostedTreesModel):
        per_column, bias, value = _boosted(predictor, model, features)
        unit, probability = LOG_ODDS, predictor.predict_proba_one(features)
    else:  # pragma: no cover - every compiled model kind is handled above
        raise ExplainError(f"no explanation for {model.kind}")
    return Explanation(
        kind=predictor.kind,
        unit=unit,
        bias=float(bias),
        value=float(value),
        probability=float(probability),
        contributions=_by_feature(predictor, per_column),
    )


# --------------------------------------------------------------------------------------------


def _predictor(obj: Any) -> CompiledPredictor:
    # A pipeline is compiled (and verified, a few ms) on every call: pass the predictor that
    # serving already holds to explain many rows.
    predictor = obj if isinstance(obj, Predictor) else compile_predictor(obj)
    if not isinstance(predictor, CompiledPredictor):
        reason = getattr(predictor, "fallback_reason", None)
        raise ExplainError(f"the pipeline does not compile ({reason}), so it is not explained")
    return predictor


def _linear(predictor: CompiledPredictor, model: LinearModel, features: Mapping[str, Any]):
    z = np.array(predictor.preprocessor.row(features), dtype=np.float64)
    weights, bias = model.fold(predictor.projection)
    per_column = weights * z
    return per_column, bias, bias + float(per_column.sum())


def _forest(predictor: CompiledPredictor, model: ForestModel, features: Mapping[str, Any]):
    """Saabas: value[child] - value[node] credited to node's feature, averaged over trees."""
    trees = model.trees
    x = np.array(predictor.preprocessor.row(features), dtype=np.float32)
    n_columns = len(x)
    per_column = np.zeros(n_columns, dtype=np.float64)
    node = trees.roots
    for _ in range(trees.depth):  # leaves point to themselves: a zero change
        value = x[trees.feature[node]]
        child = np.where(value > trees.threshold[node], trees.right[node], trees.left[node])
        child = np.where(np.isnan(value), trees.missing[node], child)
        per_column += np.bincount(
            trees.feature[node], weights=model.value[child] - model.value[node], minlength=n_columns
        )
        node = child
    n_trees = trees.n_trees
    bias = float(model.value[trees.roots].sum() / n_trees)
    per_column /= n_trees
    return per_column, bias, float(model.value[node].sum() / n_trees)


def _boosted(predictor: CompiledPredictor, model: BoostedTreesModel, features: Mapping[str, Any]):
    import xgboost

    if model.booster is None:  # pragma: no cover - compiled XGBoost always keeps its booster
        raise ExplainError("the booster is not available")
    z = predictor.model_input_one(features)
    shap = model.booster.predict(
        xgboost.DMatrix(z[None, :], missing=np.nan),
        pred_contribs=True,
        iteration_range=model.iteration_range,
    )
    shap = np.asarray(shap, dtype=np.float64).reshape(-1)
    margin = float(model.margin_one(z.astype(np.float32)))
    return shap[:-1], float(shap[-1]), margin


def _by_feature(predictor: CompiledPredictor, per_column: np.ndarray) -> list[dict[str, Any]]:
    owners = predictor.preprocessor.output_features
    totals = dict.fromkeys(predictor.preprocessor.input_features, 0.0)
    for owner, contribution in zip(owners, per_column, strict=True):
        totals[owner] += float(contribution)
    items: list[dict[str, Any]] = [
        {
            "feature": name,
            "contribution": value,
            "direction": "raises" if value > 0 else "lowers",
        }
        for name, value in totals.items()
    ]
    items.sort(key=lambda item: -abs(item["contribution"]))  # stable: ties keep feature order
    return items
