"""Per-feature contributions add up to the model's own answer and point the right way."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest

from training import fastpath
from training.datagen import generate_students
from training.explain import LOG_ODDS, PROBABILITY, ExplainError, contributions, explain
from training.features import CATEGORICAL_FEATURES, FEATURE_NAMES, NUMERIC_FEATURES, TARGET
from training.pipeline import build_pipeline

MODELS = [
    ("logistic_regression", False),
    ("logistic_regression", True),
    ("random_forest", False),
    ("xgboost", False),
]


@cache
def training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    # datagen draws Depression from CGPA < 2.5, Stress_Level >= 8 and Sleep_Duration < 5.
    frame = generate_students(3000, seed=7)
    return frame.loc[:, list(FEATURE_NAMES)], frame[TARGET].to_numpy()


@cache
def fitted(algorithm: str, use_pca: bool):
    X, y = training_frame()
    return build_pipeline(algorithm, seed=42, use_pca=use_pca, n_jobs=1).fit(X, y)


@cache
def compiled(algorithm: str, use_pca: bool) -> fastpath.CompiledPredictor:
    predictor = fastpath.compile_predictor(fitted(algorithm, use_pca))
    assert predictor.compiled, predictor.fallback_reason
    return predictor


def sample_rows() -> list[dict]:
    rows = generate_students(40, seed=21).loc[:, list(FEATURE_NAMES)].to_dict("records")
    rows[0]["CGPA"] = math.nan
    rows[1]["Department"] = "Law"  # unknown: all-zero one-hot
    rows[2]["Gender"] = math.nan  # imputed
    rows[3]["Physical_Activity"] = None
    rows[4] = {k: v for k, v in rows[4].items() if k != "Sleep_Duration"}
    return rows


def model_answer(pipeline, row: dict) -> float:
    """What the explained value must equal: the margin (LR, XGB) or the probability (RF)."""
    frame = pd.DataFrame([row], columns=list(FEATURE_NAMES))
    model = pipeline.named_steps["model"]
    if type(model).__name__ == "RandomForestClassifier":
        return float(pipeline.predict_proba(frame)[0, 1])
    if type(model).__name__ == "XGBClassifier":
        return float(model.predict(pipeline[:-1].transform(frame), output_margin=True)[0])
    return float(pipeline.decision_function(frame)[0])


@pytest.mark.parametrize(("algorithm", "use_pca"), MODELS)
def test_it_reconstructs_the_model_answer_from_bias_plus_contributions(algorithm, use_pca):
    pipeline, predictor = fitted(algorithm, use_pca), compiled(algorithm, use_pca)
    # XGBoost's TreeSHAP values are float32: they add up to its margin to ~1e-6.
    additivity = 1e-5 if algorithm == "xgboost" else 1e-12
    for row in sample_rows():
        result = explain(predictor, row)
        total = result.bias + sum(item["contribution"] for item in result.contributions)
        assert abs(total - result.value) <= additivity
        assert abs(result.value - model_answer(pipeline, row)) <= 1e-9
        assert result.probability == predictor.predict_proba_one(row)
        assert result.unit == (PROBABILITY if algorithm == "random_forest" else LOG_ODDS)


def test_it_gives_lr_contributions_equal_to_coefficient_times_standardised_value():
    pipeline = fitted("logistic_regression", False)
    row = {**training_frame()[0].iloc[5].to_dict(), "CGPA": 2.1, "Department": "Medical"}
    z = pipeline.named_steps["prep"].transform(pd.DataFrame([row]))[0]
    model = pipeline.named_steps["model"]
    coef = model.coef_[0]
    names = pipeline.named_steps["prep"].get_feature_names_out()
    by_hand = dict.fromkeys(FEATURE_NAMES, 0.0)
    for name, weight, value in zip(names, coef, z, strict=True):
        feature = next(f for f in FEATURE_NAMES if name.split("__", 1)[1].startswith(f))
        by_hand[feature] += weight * value
    department = list(names).index("cat__Department_Medical")
    assert by_hand["Department"] == coef[department]  # the one-hot column of its category
    result = explain(pipeline, row)
    got = {item["feature"]: item["contribution"] for item in result.contributions}
    assert got.keys() == by_hand.keys()
    for feature in FEATURE_NAMES:
        assert got[feature] == pytest.approx(by_hand[feature], abs=1e-12)
    assert result.bias == pytest.approx(float(model.intercept_[0]), abs=1e-12)


@pytest.mark.parametrize(("algorithm", "use_pca"), MODELS)
def test_it_reports_a_low_cgpa_as_raising_the_risk_and_a_high_one_as_lowering_it(
    algorithm, use_pca
):
    predictor = compiled(algorithm, use_pca)
    typical = {
        "Age": 21,
        "Gender": "Female",
        "Department": "Science",
        "Sleep_Duration": 7.0,
        "Study_Hours": 4.5,
        "Social_Media_Hours": 3.5,
        "Physical_Activity": 75,
        "Stress_Level": 4,
    }
    low = {i["feature"]: i for i in contributions(predictor, {**typical, "CGPA": 1.9})}
    high = {i["feature"]: i for i in contributions(predictor, {**typical, "CGPA": 3.7})}
    assert low["CGPA"]["direction"] == "raises" and low["CGPA"]["contribution"] > 0
    assert high["CGPA"]["direction"] == "lowers" and high["CGPA"]["contribution"] < 0


@pytest.mark.parametrize(("algorithm", "use_pca"), MODELS)
def test_it_lists_every_feature_once_sorted_by_absolute_size(algorithm, use_pca):
    items = contributions(compiled(algorithm, use_pca), sample_rows()[7])
    assert sorted(item["feature"] for item in items) == sorted(FEATURE_NAMES)
    sizes = [abs(item["contribution"]) for item in items]
    assert sizes == sorted(sizes, reverse=True)
    for item in items:
        assert item["direction"] == ("raises" if item["contribution"] > 0 else "lowers")
        assert isinstance(item["contribution"], float)


def test_it_explains_a_pipeline_as_it_explains_its_compiled_predictor():
    row = sample_rows()[9]
    for algorithm, use_pca in MODELS:
        assert explain(fitted(algorithm, use_pca), row) == explain(
            compiled(algorithm, use_pca), row
        )


def test_it_credits_the_forest_path_changes_to_the_split_features():
    """Saabas by hand on the first tree: walk the path, credit each change of value."""
    predictor = compiled("random_forest", False)
    forest = fitted("random_forest", False).named_steps["model"]
    row = sample_rows()[11]
    z = predictor.preprocessor.row(row)
    x = np.array([z], dtype=np.float32)
    per_column = np.zeros(len(z))
    bias = 0.0
    for estimator in forest.estimators_:
        tree = estimator.tree_
        value = tree.value[:, 0, 1]
        node = 0
        bias += value[0]
        while tree.children_left[node] >= 0:
            feature = tree.feature[node]
            go_left = x[0, feature] <= tree.threshold[node]
            child = tree.children_left[node] if go_left else tree.children_right[node]
            per_column[feature] += value[child] - value[node]
            node = child
    per_column /= len(forest.estimators_)
    owners = predictor.preprocessor.output_features
    result = explain(predictor, row)
    got = {item["feature"]: item["contribution"] for item in result.contributions}
    for feature in FEATURE_NAMES:
        want = sum(c for c, owner in zip(per_column, owners, strict=True) if owner == feature)
        assert got[feature] == pytest.approx(want, abs=1e-12)
    assert result.bias == pytest.approx(bias / len(forest.estimators_), abs=1e-12)


@pytest.mark.parametrize("algorithm", ["random_forest", "xgboost"])
def test_it_refuses_trees_behind_a_pca(algorithm):
    X, y = training_frame()
    pipeline = build_pipeline(algorithm, use_pca=True, n_jobs=1)
    pipeline.set_params(model__n_estimators=10)
    pipeline.fit(X[:1000], y[:1000])
    with pytest.raises(ExplainError, match="PCA"):
        explain(pipeline, sample_rows()[0])


def test_it_refuses_a_pipeline_that_does_not_compile():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = training_frame()
    pipeline = build_pipeline("logistic_regression")
    pipeline.steps[-1] = ("model", HistGradientBoostingClassifier(max_iter=10))
    pipeline.fit(X[:1000], y[:1000])
    with pytest.raises(ExplainError, match="does not compile"):
        contributions(pipeline, sample_rows()[0])


def test_it_keeps_numeric_and_categorical_features_in_their_own_rows():
    result = explain(compiled("logistic_regression", False), sample_rows()[1])
    names = {item["feature"] for item in result.contributions}
    assert names == set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES)
    department = next(i for i in result.contributions if i["feature"] == "Department")
    assert department["contribution"] == 0.0  # "Law" is unknown: no one-hot column is set
