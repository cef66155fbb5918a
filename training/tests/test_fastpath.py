"""The compiled predictor answers exactly as the sklearn pipeline it was compiled from."""

from __future__ import annotations

import math
import subprocess
import sys
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from xgboost import XGBClassifier

from training import fastpath
from training.datagen import generate_students
from training.features import (
    BY_NAME,
    CATEGORICAL_FEATURES,
    DEPARTMENTS,
    FEATURE_NAMES,
    GENDERS,
    NUMERIC_FEATURES,
    TARGET,
)
from training.pipeline import build_pipeline

TOLERANCE = 1e-9
TRAIN_ROWS = 3000
MODELS = [
    ("logistic_regression", False),
    ("logistic_regression", True),
    ("random_forest", False),
    ("xgboost", False),
]


@cache
def training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    frame = generate_students(TRAIN_ROWS, seed=7)
    return frame.loc[:, list(FEATURE_NAMES)], frame[TARGET].to_numpy()


@cache
def fitted(algorithm: str, use_pca: bool) -> Pipeline:
    X, y = training_frame()
    return build_pipeline(algorithm, seed=42, use_pca=use_pca, n_jobs=1).fit(X, y)


@cache
def compiled(algorithm: str, use_pca: bool) -> fastpath.Predictor:
    return fastpath.compile_predictor(fitted(algorithm, use_pca))


def frame_of(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))


def expected(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(pipeline.predict_proba(frame)[:, 1], dtype=np.float64)


def dirty(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """NaN in every column, unknown categories and None categories, ~5 % each."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for name in NUMERIC_FEATURES:
        frame[name] = frame[name].astype(np.float64)
        frame.loc[rng.random(len(frame)) < 0.05, name] = np.nan
    for name in CATEGORICAL_FEATURES:
        frame[name] = frame[name].astype(object)
        frame.loc[rng.random(len(frame)) < 0.05, name] = np.nan
        frame.loc[rng.random(len(frame)) < 0.05, name] = "Unknown"
        frame.loc[rng.random(len(frame)) < 0.05, name] = None
    return frame


# Rows: every value within its plausible range, or missing, or (categories) unknown / None.
def _numeric(name: str) -> st.SearchStrategy:
    feature = BY_NAME[name]
    if feature.kind == "int":
        value = st.integers(int(feature.minimum), int(feature.maximum))
    else:
        value = st.floats(feature.minimum, feature.maximum, allow_nan=False)
    return st.one_of(value, value, value, st.just(math.nan), st.none())


def _categorical(name: str) -> st.SearchStrategy:
    choices = st.sampled_from(BY_NAME[name].choices)
    unknown = st.one_of(st.sampled_from(["Other", "male", ""]), st.text(max_size=4))
    return st.one_of(choices, choices, choices, unknown, st.just(math.nan), st.none())


ROW = st.fixed_dictionaries(
    {name: _numeric(name) for name in NUMERIC_FEATURES}
    | {name: _categorical(name) for name in CATEGORICAL_FEATURES}
)
ROWS = st.lists(
    st.tuples(ROW, st.sets(st.sampled_from(FEATURE_NAMES), max_size=2)).map(
        lambda pair: {k: v for k, v in pair[0].items() if k not in pair[1]}  # absent keys
    ),
    min_size=1,
    max_size=6,
)


@pytest.mark.parametrize(("algorithm", "use_pca"), MODELS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS)
def test_it_matches_the_pipeline_on_random_rows_for_every_model(algorithm, use_pca, rows):
    pipeline, predictor = fitted(algorithm, use_pca), compiled(algorithm, use_pca)
    assert predictor.compiled, predictor.fallback_reason
    # A row alone is compared with the pipeline on that row alone: pandas turns a column of
    # only None/NaN into float NaN (imputed) but keeps None among strings (unknown category).
    for row in rows:
        want = expected(pipeline, frame_of([row]))[0]
        assert abs(predictor.predict_proba_one(row) - want) <= TOLERANCE
    frame = frame_of(rows)
    assert np.max(np.abs(predictor.predict_proba(frame) - expected(pipeline, frame))) <= TOLERANCE


@pytest.mark.parametrize(
    ("algorithm", "use_pca"), [*MODELS, ("random_forest", True), ("xgboost", True)]
)
def test_it_matches_the_pipeline_on_a_large_batch(algorithm, use_pca):
    pipeline, predictor = fitted(algorithm, use_pca), compiled(algorithm, use_pca)
    assert predictor.compiled, predictor.fallback_reason
    frame = generate_students(10_000, seed=11).loc[:, list(FEATURE_NAMES)]
    for batch in (frame, dirty(frame, seed=3)):
        want = expected(pipeline, batch)
        assert np.max(np.abs(predictor.predict_proba(batch) - want)) <= TOLERANCE
        as_dict = {name: batch[name].to_numpy() for name in FEATURE_NAMES}
        assert np.max(np.abs(predictor.predict_proba(as_dict) - want)) <= TOLERANCE
        rows = batch.iloc[:500].to_dict("records")
        one = np.array([predictor.predict_proba_one(row) for row in rows])
        assert np.max(np.abs(one - want[:500])) <= TOLERANCE


def test_it_gives_xgboost_the_same_bits_on_the_numpy_and_the_native_batch_path():
    pipeline, predictor = fitted("xgboost", False), compiled("xgboost", False)
    batch = dirty(generate_students(2000, seed=12).loc[:, list(FEATURE_NAMES)], seed=4)
    z = predictor.model_input(batch)
    want = expected(pipeline, batch)
    assert np.array_equal(predictor.model.predict(z, native=False), want)
    assert np.array_equal(predictor.model.predict(z, native=True), want)


def test_it_treats_nan_none_and_unknown_categories_as_the_pipeline_does():
    pipeline, predictor = (
        fitted("logistic_regression", False),
        compiled("logistic_regression", False),
    )
    base = training_frame()[0].iloc[0].to_dict()
    most_frequent = pipeline.named_steps["prep"].named_transformers_["cat"]["impute"].statistics_
    imputed = {**base, "Department": most_frequent[1]}
    answers = {
        "nan": predictor.predict_proba_one({**base, "Department": math.nan}),
        "absent": predictor.predict_proba_one({k: v for k, v in base.items() if k != "Department"}),
        "imputed": predictor.predict_proba_one(imputed),
        "none": predictor.predict_proba_one({**base, "Department": None}),
        "unknown": predictor.predict_proba_one({**base, "Department": "Law"}),
    }
    assert answers["nan"] == answers["absent"] == answers["imputed"]
    assert answers["none"] == answers["unknown"] != answers["nan"]
    for value in (math.nan, None, "Law"):
        want = expected(pipeline, frame_of([{**base, "Department": value}]))[0]
        assert abs(predictor.predict_proba_one({**base, "Department": value}) - want) <= TOLERANCE


def test_it_rejects_an_infinite_number_as_the_pipeline_does():
    pipeline, predictor = fitted("random_forest", False), compiled("random_forest", False)
    row = {**training_frame()[0].iloc[0].to_dict(), "Study_Hours": math.inf}
    with pytest.raises(ValueError, match="infinity"):
        pipeline.predict_proba(frame_of([row]))
    with pytest.raises(ValueError, match="infinity"):
        predictor.predict_proba_one(row)
    with pytest.raises(ValueError, match="infinity"):
        predictor.predict_proba(frame_of([row]))


def _without_numeric_imputer(model) -> Pipeline:
    """NaN reaches the model: the trees' learned missing-value branches are used."""
    prep = ColumnTransformer(
        [
            ("num", Pipeline([("scale", StandardScaler())]), list(NUMERIC_FEATURES)),
            (
                "cat",
                OneHotEncoder(
                    categories=[list(GENDERS), list(DEPARTMENTS)],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
                list(CATEGORICAL_FEATURES),
            ),
        ],
        remainder="drop",
        sparse_threshold=0,
    )
    return Pipeline([("prep", prep), ("model", model)])


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: XGBClassifier(n_estimators=60, max_depth=3, tree_method="hist", random_state=0),
        lambda: RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0),
    ],
    ids=["xgboost", "random_forest"],
)
def test_it_sends_missing_values_down_the_learned_branch(make_model):
    X, y = training_frame()
    X = dirty(X, seed=5)
    X[list(CATEGORICAL_FEATURES)] = X[list(CATEGORICAL_FEATURES)].fillna("Unknown")
    pipeline = _without_numeric_imputer(make_model()).fit(X, y)
    predictor = fastpath.compile_predictor(pipeline)
    assert predictor.compiled, predictor.fallback_reason
    batch = dirty(generate_students(3000, seed=13).loc[:, list(FEATURE_NAMES)], seed=6)
    batch[list(CATEGORICAL_FEATURES)] = batch[list(CATEGORICAL_FEATURES)].fillna("Unknown")
    want = expected(pipeline, batch)
    assert np.isnan(predictor.model_input(batch)).any()
    assert np.max(np.abs(predictor.predict_proba(batch) - want)) <= TOLERANCE
    one = np.array([predictor.predict_proba_one(r) for r in batch.iloc[:300].to_dict("records")])
    assert np.max(np.abs(one - want[:300])) <= TOLERANCE


def test_it_uses_the_best_iteration_of_an_early_stopped_booster():
    X, y = training_frame()
    pipeline = build_pipeline("xgboost", n_jobs=1)
    pipeline.set_params(model__n_estimators=400, model__learning_rate=0.3)
    pipeline.set_params(model__early_stopping_rounds=5)
    prep = pipeline.named_steps["prep"].fit(X[:2000])
    eval_set = [(prep.transform(X[2000:]), y[2000:])]
    pipeline.fit(X[:2000], y[:2000], model__eval_set=eval_set, model__verbose=False)
    best = pipeline.named_steps["model"].best_iteration
    assert best + 1 < pipeline.named_steps["model"].get_booster().num_boosted_rounds()
    predictor = fastpath.compile_predictor(pipeline)
    assert predictor.compiled, predictor.fallback_reason
    batch = dirty(generate_students(2000, seed=14).loc[:, list(FEATURE_NAMES)], seed=7)
    want = expected(pipeline, batch)
    assert np.max(np.abs(predictor.predict_proba(batch) - want)) <= TOLERANCE
    z = predictor.model_input(batch)
    assert np.array_equal(predictor.model.predict(z, native=False), want)


def _with_model(model) -> Pipeline:
    pipeline = build_pipeline("logistic_regression")
    pipeline.steps[-1] = ("model", model)
    return pipeline


def _with_extra_step() -> Pipeline:
    pipeline = build_pipeline("logistic_regression")
    pipeline.steps.insert(1, ("poly", PolynomialFeatures(degree=2)))
    return pipeline


@pytest.mark.parametrize(
    "make",
    [
        lambda: _with_model(HistGradientBoostingClassifier(max_iter=20, random_state=0)),
        _with_extra_step,
        lambda: _with_model(XGBClassifier(n_estimators=20, objective="binary:hinge")),
    ],
    ids=["unknown-estimator", "unknown-step", "non-logistic-objective"],
)
def test_it_falls_back_to_the_pipeline_when_it_cannot_compile(make):
    X, y = training_frame()
    pipeline = make().fit(X, y)
    predictor = fastpath.compile_predictor(pipeline)
    assert isinstance(predictor, fastpath.PipelinePredictor)
    assert predictor.compiled is False and predictor.fallback_reason
    batch = dirty(generate_students(300, seed=15).loc[:, list(FEATURE_NAMES)], seed=8)
    want = expected(pipeline, batch)
    assert np.array_equal(predictor.predict_proba(batch), want)
    rows = batch.iloc[:20].to_dict("records")
    one = [predictor.predict_proba_one(r) for r in rows]
    assert np.max(np.abs(np.array(one) - want[:20])) <= 1e-12  # BLAS: 1 row vs 300


def test_it_falls_back_when_the_compiled_answers_disagree_with_the_pipeline(monkeypatch):
    pipeline = fitted("random_forest", False)
    real = fastpath.ForestModel.predict_one

    def off_by_a_little(self, x, **kwargs):
        return real(self, x, **kwargs) + 1e-7

    monkeypatch.setattr(fastpath.ForestModel, "predict_one", off_by_a_little)
    predictor = fastpath.compile_predictor(pipeline)
    assert predictor.compiled is False
    assert "differ" in predictor.fallback_reason
    assert fastpath.compile_predictor(pipeline, verify=False).compiled is True


def test_it_imports_without_django():
    code = "import sys, training.fastpath, training.explain; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
