"""The prediction hot path: a fitted pipeline compiled into plain numpy arithmetic.

scikit-learn spends ~2 ms (13 ms with the forest's joblib dispatch) validating and dispatching a
one-row DataFrame; the arithmetic of the model itself takes microseconds.
`compile_predictor(pipeline)` reads the fitted parameters once and returns a `Predictor` whose
answers equal `pipeline.predict_proba(frame)[:, 1]` (to ~1e-15 for logistic regression and the
random forest, where only the order of a sum differs, and bit for bit for XGBoost):

    predictor = compile_predictor(pipeline)
    predictor.predict_proba_one({"Age": 21, "Gender": "Female", ...})  # -> float
    predictor.predict_proba(frame)  # -> np.ndarray of positive-class probabilities

What compiles: Pipeline([ColumnTransformer of (SimpleImputer -> StandardScaler) numeric blocks
and (SimpleImputer -> OneHotEncoder(handle_unknown="ignore")) categorical blocks, optional PCA,
then LogisticRegression | RandomForestClassifier | XGBClassifier with a logistic objective]).
Anything else (another step, another estimator, an option that changes the arithmetic) gives a
`PipelinePredictor` that calls the pipeline itself; `predictor.compiled` says which one answers
and `predictor.fallback_reason` why. A compiled predictor is checked against the pipeline on
probe rows before it is returned, so a version of scikit-learn or XGBoost that changed its
arithmetic also falls back instead of answering differently.

Input semantics are the pipeline's: a numeric value that is None / NaN (or a key that is absent
from the dict) is imputed; a categorical value that is NaN (or absent) is imputed with the most
frequent category, while None or an unknown string encodes as all zeros (this is what
SimpleImputer(missing_values=np.nan) + OneHotEncoder(handle_unknown="ignore") do with None);
an infinite numeric value raises ValueError as SimpleImputer does. (In a DataFrame, pandas
stores a categorical column holding only None/NaN as float NaN, which is imputed; the batch path
reads the frame as the pipeline does, so it agrees either way.)

Speed (2 CPUs, 10,000-row batches): logistic regression ~1 us a row and ~1 ms a batch; the
forest ~15 us a row (10 levels x 100 trees walked together) and ~30-40 ms a batch, on par with
scikit-learn's C traversal; XGBoost ~12 us a row, and a batch of 32 rows or more is handed to the
booster's own inplace_predict after the compiled preprocessing (~5 ms; numpy would take ~25 ms).

Pure Python + numpy: no Django imports. Predictors hold no mutable state, so one instance can
serve many threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy.special import expit

from training.features import FEATURE_NAMES

__all__ = [
    "CompiledPredictor",
    "PipelinePredictor",
    "Predictor",
    "compile_predictor",
]

# A compiled predictor must agree with its pipeline to this on the probe rows.
VERIFY_TOLERANCE = 1e-9
# Rows traversed together in a batch: keeps the (rows x trees) work arrays in cache.
_BATCH_CHUNK_ROWS = 1024
_ABSENT = object()


class CompileError(ValueError):
    """A part of the pipeline that compile_predictor cannot turn into numpy arithmetic."""


# --------------------------------------------------------------------------------------------
# Predictors


class Predictor:
    """The common interface of the compiled predictor and of the pipeline fallback."""

    compiled: bool = False
    kind: str = "pipeline"
    fallback_reason: str | None = None

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline

    def predict_proba_one(self, features: Mapping[str, Any]) -> float:
        """The positive-class probability of one row given as {feature name: value}."""
        raise NotImplementedError

    def predict_proba(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Positive-class probabilities (float64, one per row) of a DataFrame or of a
        mapping {feature name: array-like}."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind} compiled={self.compiled}>"


class PipelinePredictor(Predictor):
    """The fallback: the same interface, answered by the sklearn pipeline itself."""

    compiled = False
    kind = "pipeline"

    def __init__(self, pipeline: Any, reason: str | None = None):
        super().__init__(pipeline)
        self.fallback_reason = reason
        names = getattr(pipeline, "feature_names_in_", None)
        self.columns: tuple[str, ...] = (
            tuple(str(n) for n in names) if names is not None else FEATURE_NAMES
        )

    def predict_proba_one(self, features: Mapping[str, Any]) -> float:
        frame = pd.DataFrame([dict(features)], columns=list(self.columns))
        return float(self.pipeline.predict_proba(frame)[0, 1])

    def predict_proba(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        return np.asarray(self.pipeline.predict_proba(frame)[:, 1], dtype=np.float64)


class CompiledPredictor(Predictor):
    """Preprocessing, optional PCA and the model, as numpy arrays read once from the pipeline.

    `preprocessor` turns raw features into the ColumnTransformer's output columns,
    `projection` is the PCA (or None) and `model` the compiled estimator; explain.py reads them.
    """

    compiled = True

    def __init__(
        self,
        pipeline: Any,
        preprocessor: Preprocessor,
        projection: Projection | None,
        model: LinearModel | ForestModel | BoostedTreesModel,
    ):
        super().__init__(pipeline)
        self.preprocessor = preprocessor
        self.projection = projection
        self.model = model
        self.kind = model.kind
        # NaN reaches the model only when a numeric column has no imputer (or through a PCA
        # of overflowed values); otherwise the per-row NaN check of the tree walk is skipped.
        self._nan_possible = projection is not None or any(
            c.fill is None for c in preprocessor.numeric
        )
        if isinstance(model, LinearModel):
            self._one = self._linear_one_factory(model)
        else:
            self._trees = model
            self._one = self._trees_one

    calibrator: Any = None

    def calibrate(self, calibrator: Any, wrapper: Any) -> None:
        """Serve calibrator(score) instead of the score. `explain` still reads `model`, so an
        explanation stays in the model's own units (log-odds or probability before calibration).
        """
        self.calibrator = calibrator
        self.pipeline = wrapper
        raw_one = self._one
        apply_one = calibrator.scalar_function()

        def one(features: Mapping[str, Any]) -> float:
            return apply_one(raw_one(features))

        self._one = one

    # The model's input columns (after the optional PCA) ------------------------------------
    def model_input_one(self, features: Mapping[str, Any]) -> np.ndarray:
        z = np.array(self.preprocessor.row(features), dtype=np.float64)
        if self.projection is not None:
            z = self.projection.transform(z[None, :])[0]
        return z

    def model_input(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        z = self.preprocessor.transform(data)
        if self.projection is not None:
            z = self.projection.transform(z)
        return z

    # Single row ------------------------------------------------------------------------------
    def predict_proba_one(self, features: Mapping[str, Any]) -> float:
        return self._one(features)

    def _linear_one_factory(self, model: LinearModel):
        # Logistic regression is linear from the standardised columns to the margin, so the
        # scaler, the one-hot encoding and the PCA fold into one weight per numeric feature and
        # one weight per category: a row costs a few float operations in plain Python.
        weights, bias = model.fold(self.projection)
        numeric = tuple(
            (c.name, c.fill, c.mean, c.scale, float(weights[c.index]))
            for c in self.preprocessor.numeric
        )
        categorical = tuple(
            (
                c.name,
                c.fill,
                {cat: float(weights[c.offset + j]) for j, cat in enumerate(c.categories)},
            )
            for c in self.preprocessor.categorical
        )
        bias = float(bias)

        def one(features: Mapping[str, Any]) -> float:
            margin = bias
            for name, fill, mean, scale, weight in numeric:
                value = _numeric_value(features.get(name), fill)
                margin += (value - mean) / scale * weight
            for name, fill, table in categorical:
                value = _categorical_value(features.get(name, _ABSENT), fill)
                margin += _lookup(table, value, 0.0)
            return _expit_scalar(margin)

        return one

    def _trees_one(self, features: Mapping[str, Any]) -> float:
        if self.projection is None:
            x = np.array(self.preprocessor.row(features), dtype=np.float32)
        else:
            x = self.model_input_one(features).astype(np.float32)
        return self._trees.predict_one(x, check_missing=self._nan_possible)

    # Batch -------------------------------------------------------------------------------------
    def predict_proba(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        scores = self.model.predict(self.model_input(data))
        return scores if self.calibrator is None else self.calibrator.apply(scores)


# --------------------------------------------------------------------------------------------
# Preprocessing: the ColumnTransformer


class NumericColumn(NamedTuple):
    name: str
    index: int  # type: ignore[assignment]  # output column (shadows tuple.index on purpose)
    fill: float | None  # imputed value, None when there is no imputer
    mean: float  # 0.0 when there is no centring
    scale: float  # 1.0 when there is no scaling


class CategoricalColumn(NamedTuple):
    name: str
    offset: int  # first one-hot output column
    fill: Any  # imputed category, _ABSENT when there is no imputer
    categories: tuple[str, ...]
    lookup: dict[str, int]


class Preprocessor:
    """The fitted ColumnTransformer as per-column constants.

    The arithmetic is sklearn's: NaN -> imputer statistic, then (x - mean_) / scale_, in
    float64; a category becomes a 1 in its one-hot column, an unknown one all zeros.
    """

    def __init__(self, numeric: list[NumericColumn], categorical: list[CategoricalColumn]):
        self.numeric = tuple(numeric)
        self.categorical = tuple(categorical)
        self.n_outputs = len(self.numeric) + sum(len(c.categories) for c in self.categorical)
        # The original feature of every output column (explain.py sums contributions by it).
        owners = [""] * self.n_outputs
        for c in self.numeric:
            owners[c.index] = c.name
        for k in self.categorical:
            for j in range(len(k.categories)):
                owners[k.offset + j] = k.name
        self.output_features: tuple[str, ...] = tuple(owners)
        self.input_features: tuple[str, ...] = tuple(
            dict.fromkeys([c.name for c in self.numeric] + [c.name for c in self.categorical])
        )

    def row(self, features: Mapping[str, Any]) -> list[float]:
        """One row dict -> the transformed row as a list of floats."""
        out = [0.0] * self.n_outputs
        for c in self.numeric:
            out[c.index] = (_numeric_value(features.get(c.name), c.fill) - c.mean) / c.scale
        for k in self.categorical:
            value = _categorical_value(features.get(k.name, _ABSENT), k.fill)
            j = _lookup(k.lookup, value, None)
            if j is not None:
                out[k.offset + j] = 1.0
        return out

    def transform(self, data: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """A DataFrame (or {name: array-like}) -> the transformed float64 matrix."""
        columns = {name: _column(data, name) for name in self.input_features}
        n_rows = len(next(iter(columns.values()))) if columns else 0
        z = np.zeros((n_rows, self.n_outputs), dtype=np.float64)
        for c in self.numeric:
            x = _numeric_array(columns[c.name])
            if c.fill is not None:
                x = np.where(np.isnan(x), c.fill, x)
            x -= c.mean
            x /= c.scale
            z[:, c.index] = x
        rows = np.arange(n_rows)
        for k in self.categorical:
            values = _object_array(columns[k.name])
            if k.fill is not _ABSENT:
                missing = values != values  # NaN, as SimpleImputer finds it in object columns
                if missing.any():
                    values = values.copy()
                    values[missing] = k.fill
            codes = pd.Index(k.categories, dtype=object).get_indexer(values)
            known = codes >= 0
            z[rows[known], k.offset + codes[known]] = 1.0
        return z


def _numeric_value(value: Any, fill: float | None) -> float:
    if value is None:
        value = math.nan
    else:
        value = float(value)
        if math.isinf(value):
            raise ValueError("Input contains infinity.")
    if value != value and fill is not None:
        return fill
    return value


def _categorical_value(value: Any, fill: Any) -> Any:
    if fill is not _ABSENT and (value is _ABSENT or (isinstance(value, float) and value != value)):
        return fill
    return value


def _lookup(table: dict, value: Any, default: Any) -> Any:
    try:
        return table.get(value, default)
    except TypeError:  # unhashable: not a category
        return default


def _column(data: pd.DataFrame | Mapping[str, Any], name: str) -> Any:
    try:
        return data[name]
    except KeyError:
        raise KeyError(f"missing input column {name!r}") from None


def _numeric_array(column: Any) -> np.ndarray:
    if isinstance(column, pd.Series):
        x = column.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    else:
        x = np.array(column, dtype=np.float64)
    if np.isinf(x).any():
        raise ValueError("Input contains infinity.")
    return x.reshape(-1)


def _object_array(column: Any) -> np.ndarray:
    if isinstance(column, pd.Series):
        return column.to_numpy(dtype=object)
    values = np.empty(len(column), dtype=object)
    values[:] = list(column)
    return values


def _compile_column_transformer(ct: Any) -> Preprocessor:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if type(ct) is not ColumnTransformer:
        raise CompileError(f"first step is {type(ct).__name__}, not a ColumnTransformer")
    if getattr(ct, "sparse_output_", False):
        raise CompileError("the ColumnTransformer outputs a sparse matrix")
    if ct.transformer_weights:
        raise CompileError("transformer_weights are not supported")
    numeric: list[NumericColumn] = []
    categorical: list[CategoricalColumn] = []
    offset = 0
    for name, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if isinstance(transformer, str):
            raise CompileError(f"transformer {name!r} is {transformer!r}")
        if not (isinstance(columns, list | tuple) and all(isinstance(c, str) for c in columns)):
            raise CompileError(f"transformer {name!r} does not select columns by name")
        steps = transformer.steps if type(transformer) is Pipeline else [(name, transformer)]
        steps = [step for _, step in steps if step is not None and step != "passthrough"]
        if steps and _is_one_hot(steps[-1]):
            columns_out = _compile_categorical(steps, list(columns), offset)
            categorical.extend(columns_out)
            offset += sum(len(c.categories) for c in columns_out)
        else:
            numeric.extend(_compile_numeric(steps, list(columns), offset))
            offset += len(columns)
    if not numeric and not categorical:
        raise CompileError("the ColumnTransformer outputs no column")
    return Preprocessor(numeric, categorical)


def _is_one_hot(step: Any) -> bool:
    from sklearn.preprocessing import OneHotEncoder

    return type(step) is OneHotEncoder


def _imputer_fill(imputer: Any, n_columns: int) -> np.ndarray:
    from sklearn.impute import SimpleImputer

    if type(imputer) is not SimpleImputer:
        raise CompileError(f"{type(imputer).__name__} is not supported")
    missing = imputer.missing_values
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise CompileError("SimpleImputer.missing_values must be np.nan")
    if imputer.add_indicator:
        raise CompileError("SimpleImputer(add_indicator=True) is not supported")
    fill = np.asarray(imputer.statistics_)
    if fill.shape != (n_columns,):
        raise CompileError("SimpleImputer statistics do not match its columns")
    return fill


def _compile_numeric(steps: list, columns: list[str], offset: int) -> list[NumericColumn]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    n = len(columns)
    fill: np.ndarray | None = None
    mean = np.zeros(n)
    scale = np.ones(n)
    rest = list(steps)
    if rest and type(rest[0]) is SimpleImputer:
        fill = _imputer_fill(rest.pop(0), n).astype(np.float64)
        if np.isnan(fill).any():  # sklearn drops such a column
            raise CompileError("a numeric column was empty when the imputer was fitted")
    if rest and type(rest[0]) is StandardScaler:
        scaler = rest.pop(0)
        if scaler.mean_ is not None:
            mean = np.asarray(scaler.mean_, dtype=np.float64)
        if scaler.scale_ is not None:
            scale = np.asarray(scaler.scale_, dtype=np.float64)
        if mean.shape != (n,) or scale.shape != (n,):
            raise CompileError("StandardScaler parameters do not match its columns")
    if rest:
        raise CompileError(f"numeric step {type(rest[0]).__name__} is not supported")
    return [
        NumericColumn(
            name,
            offset + i,
            None if fill is None else float(fill[i]),
            float(mean[i]),
            float(scale[i]),
        )
        for i, name in enumerate(columns)
    ]


def _compile_categorical(steps: list, columns: list[str], offset: int) -> list[CategoricalColumn]:
    n = len(columns)
    *head, encoder = steps
    fill: list[Any] = [_ABSENT] * n
    if head:
        if len(head) != 1:
            raise CompileError("a categorical block may only impute, then one-hot encode")
        fill = list(_imputer_fill(head[0], n))
    if encoder.handle_unknown != "ignore":
        raise CompileError("OneHotEncoder.handle_unknown must be 'ignore'")
    if encoder.drop is not None or getattr(encoder, "drop_idx_", None) is not None:
        raise CompileError("OneHotEncoder(drop=...) is not supported")
    if encoder.min_frequency is not None or encoder.max_categories is not None:
        raise CompileError("infrequent categories are not supported")
    if len(encoder.categories_) != n:
        raise CompileError("OneHotEncoder categories do not match its columns")
    out = []
    for i, name in enumerate(columns):
        categories = tuple(encoder.categories_[i].tolist())
        if not all(isinstance(c, str) for c in categories):
            raise CompileError(f"categories of {name!r} are not all strings")
        if fill[i] is not _ABSENT and not isinstance(fill[i], str):
            raise CompileError(f"the imputed category of {name!r} is not a string")
        lookup = {c: j for j, c in enumerate(categories)}
        out.append(CategoricalColumn(name, offset, fill[i], categories, lookup))
        offset += len(categories)
    return out


# --------------------------------------------------------------------------------------------
# PCA


class Projection:
    """PCA.transform: X @ components_.T - mean_ @ components_.T [/ sqrt(explained_variance_)]."""

    def __init__(self, pca: Any):
        self.components = np.asarray(pca.components_, dtype=np.float64)
        self.mean = np.asarray(pca.mean_, dtype=np.float64)
        self.offset = self.mean.reshape(1, -1) @ self.components.T  # (1, k), as sklearn
        self.divisor: np.ndarray | None = None
        if pca.whiten:
            scale = np.sqrt(np.asarray(pca.explained_variance_, dtype=np.float64))
            scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
            self.divisor = scale

    @property
    def n_outputs(self) -> int:
        return self.components.shape[0]

    def transform(self, z: np.ndarray) -> np.ndarray:
        out = z @ self.components.T
        out -= self.offset
        if self.divisor is not None:
            out /= self.divisor
        return out

    def fold(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """Weights on the PCA outputs -> (weights on the PCA inputs, constant term)."""
        w = weights if self.divisor is None else weights / self.divisor
        return self.components.T @ w, -float(self.offset[0] @ w)


def _compile_pca(pca: Any, n_inputs: int) -> Projection:
    from sklearn.decomposition import PCA

    if type(pca) is not PCA:
        raise CompileError(f"{type(pca).__name__} is not supported")
    projection = Projection(pca)
    if projection.components.shape[1] != n_inputs:
        raise CompileError("PCA input width does not match the ColumnTransformer output")
    return projection


# --------------------------------------------------------------------------------------------
# Models


class LinearModel:
    """Binary LogisticRegression: expit(X @ coef_ + intercept_), as sklearn computes it."""

    kind = "logistic_regression"

    def __init__(self, coef: np.ndarray, intercept: float):
        self.coef = coef
        self.intercept = intercept

    def margin(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return expit(self.margin(x))

    def fold(self, projection: Projection | None) -> tuple[np.ndarray, float]:
        """(weights on the ColumnTransformer outputs, intercept) with the PCA folded in."""
        if projection is None:
            return self.coef, self.intercept
        weights, constant = projection.fold(self.coef)
        return weights, self.intercept + constant


def _compile_logistic(model: Any, n_inputs: int) -> LinearModel:
    coef = np.asarray(model.coef_, dtype=np.float64)
    if len(model.classes_) != 2 or coef.shape != (1, n_inputs):
        raise CompileError("only a binary LogisticRegression on the pipeline's columns compiles")
    return LinearModel(coef[0].copy(), float(np.asarray(model.intercept_).reshape(-1)[0]))


class TreeArrays:
    """Many binary trees flattened into one set of node arrays, traversed all at once.

    A row goes to the right child of a node when `x > threshold[node]` with x and the
    threshold in float32 (each library's own comparison is rewritten into this form when the
    trees are read), and to `missing[node]` when x is NaN. Leaves point to themselves,
    so `depth` steps take every tree of every row to its leaf. States are kept doubled
    (2 * node) so that one step is `state = child[state + goes_right]`.
    """

    def __init__(
        self,
        feature: np.ndarray,
        threshold: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        missing: np.ndarray,
        roots: np.ndarray,
        depth: int,
    ):
        n = len(feature)
        leaf = left < 0
        self.is_leaf = leaf
        self.feature = np.where(leaf, 0, feature).astype(np.intp)
        self.threshold = np.where(leaf, np.float32(np.inf), threshold).astype(np.float32)
        own = np.arange(n, dtype=np.intp)
        self.left = np.where(leaf, own, left).astype(np.intp)
        self.right = np.where(leaf, own, right).astype(np.intp)
        self.missing = np.where(leaf, own, missing).astype(np.intp)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth = int(depth)
        self.n_trees = len(self.roots)
        # Doubled layout: index 2n and 2n+1 describe node n.
        self._feature2 = np.repeat(self.feature, 2)
        self._threshold2 = np.repeat(self.threshold, 2)
        child = np.empty(2 * n, dtype=np.intp)
        child[0::2] = 2 * self.left
        child[1::2] = 2 * self.right
        self._child2 = child
        self._roots2 = 2 * self.roots

    def leaves_one(self, x: np.ndarray, *, check_missing: bool = True) -> np.ndarray:
        """The leaf reached in every tree by one float32 row (`check_missing=False` when the
        caller knows x has no NaN)."""
        if check_missing and np.isnan(x).any():
            return self._leaves_with_missing(x[None, :])[0]
        feature, threshold, child = self._feature2, self._threshold2, self._child2
        state = self._roots2
        for _ in range(self.depth):
            state = child[state + (x[feature[state]] > threshold[state])]
        return state >> 1

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """(n_rows, n_trees) leaves reached by a float32 matrix."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if np.isnan(x).any():
            return self._leaves_with_missing(x)
        n_rows, n_cols = x.shape
        out = np.empty((n_rows, self.n_trees), dtype=np.intp)
        feature, threshold, child = self._feature2, self._threshold2, self._child2
        for start in range(0, n_rows, _BATCH_CHUNK_ROWS):
            stop = min(start + _BATCH_CHUNK_ROWS, n_rows)
            flat = x[start:stop].reshape(-1)
            row_base = (np.arange(stop - start, dtype=np.intp) * n_cols)[:, None]
            state = np.repeat(self._roots2[None, :], stop - start, axis=0)
            for _ in range(self.depth):
                column = feature[state]
                column += row_base
                goes_right = flat[column] > threshold[state]
                state += goes_right
                state = child[state]
            out[start:stop] = state >> 1
        return out

    def _leaves_with_missing(self, x: np.ndarray) -> np.ndarray:
        node = np.repeat(self.roots[None, :], len(x), axis=0)
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            value = x[rows, self.feature[node]]
            step = np.where(value > self.threshold[node], self.right[node], self.left[node])
            node = np.where(np.isnan(value), self.missing[node], step)
        return node


class ForestModel:
    """RandomForestClassifier: the mean over trees of the leaf's positive-class fraction
    (`tree_.value`), as sklearn averages `predict_proba`."""

    kind = "random_forest"

    def __init__(self, trees: TreeArrays, value: np.ndarray):
        self.trees = trees
        self.value = value  # float64 per node: P(positive class)

    def predict_one(self, x: np.ndarray, *, check_missing: bool = True) -> float:
        leaves = self.trees.leaves_one(x, check_missing=check_missing)
        return float(self.value[leaves].sum() / self.trees.n_trees)

    def predict(self, x: np.ndarray) -> np.ndarray:
        leaves = self.trees.leaves(x.astype(np.float32))
        return self.value[leaves].sum(axis=1) / self.trees.n_trees


def _compile_forest(model: Any, n_inputs: int) -> ForestModel:
    if getattr(model, "n_outputs_", 1) != 1 or len(model.classes_) != 2:
        raise CompileError("only a binary single-output forest compiles")
    if model.n_features_in_ != n_inputs:
        raise CompileError("forest input width does not match")
    features, thresholds, lefts, rights, missings, values, roots = [], [], [], [], [], [], []
    depth, offset = 0, 0
    for estimator in model.estimators_:
        tree = estimator.tree_
        n = tree.node_count
        left = tree.children_left.astype(np.intp)
        right = tree.children_right.astype(np.intp)
        leaf = left < 0
        threshold = tree.threshold.astype(np.float64)
        # sklearn: left when float32(x) <= threshold (a float64). For float32 x that is
        # x <= the largest float32 not above the threshold, so: right when x > that float32.
        t32 = threshold.astype(np.float32)
        above = t32.astype(np.float64) > threshold
        t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
        go_left = getattr(tree, "missing_go_to_left", np.ones(n, dtype=np.uint8)).astype(bool)
        value = np.asarray(tree.value, dtype=np.float64)[:, 0, :]
        total = value.sum(axis=1)
        if not np.allclose(total, 1.0):  # scikit-learn < 1.4 stored weighted counts
            value = value / np.where(total == 0, 1.0, total)[:, None]
        features.append(tree.feature.astype(np.intp))
        thresholds.append(t32)
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        missings.append(np.where(go_left, left, right) + offset)
        values.append(value[:, 1])
        roots.append(offset)
        depth = max(depth, int(tree.max_depth))
        offset += n
    trees = TreeArrays(
        np.concatenate(features),
        np.concatenate(thresholds),
        np.concatenate(lefts),
        np.concatenate(rights),
        np.concatenate(missings),
        np.asarray(roots),
        depth,
    )
    return ForestModel(trees, np.concatenate(values))


class BoostedTreesModel:
    """XGBClassifier with a logistic objective, replicated in XGBoost's float32 arithmetic.

    margin = base margin + leaf_1 + leaf_2 + ... summed in tree order in float32 (the base
    margin is tree 0 here, a single leaf), then 1 / (1 + expf(-margin)) in float32; left when
    float32(x) < split_condition, NaN to the default child.

    A batch of NATIVE_BATCH_MIN_ROWS rows or more goes to the booster's own inplace_predict on
    the compiled preprocessing's output (what the pipeline's last step does, without
    scikit-learn's overhead): XGBoost's C++ traversal beats numpy's there, ~5 ms against
    ~25 ms for 10,000 rows x 200 trees, and the answers are the same bits either way.
    """

    kind = "xgboost"
    NATIVE_BATCH_MIN_ROWS = 32

    def __init__(
        self,
        trees: TreeArrays,
        leaf_value: np.ndarray,
        base_margin: np.float32,
        booster: Any = None,
        iteration_range: tuple[int, int] = (0, 0),
    ):
        self.trees = trees
        self.leaf_value = leaf_value  # float32 per node (internal nodes 0)
        self.base_margin = base_margin
        self.booster = booster
        self.iteration_range = iteration_range

    def margin_one(self, x: np.ndarray, *, check_missing: bool = True) -> np.float32:
        leaves = self.trees.leaves_one(x, check_missing=check_missing)
        return np.cumsum(self.leaf_value[leaves])[-1]

    def predict_one(self, x: np.ndarray, *, check_missing: bool = True) -> float:
        return float(_sigmoid32_scalar(self.margin_one(x, check_missing=check_missing)))

    def margin(self, x: np.ndarray) -> np.ndarray:
        values = self.leaf_value[self.trees.leaves(x.astype(np.float32))].T  # (trees, rows)
        total = values[0].copy()
        for tree_values in values[1:]:  # tree by tree, as XGBoost adds them
            total += tree_values
        return total

    def predict(self, x: np.ndarray, *, native: bool | None = None) -> np.ndarray:
        """Probabilities of the rows of x; `native` forces (True) or forbids (False) the
        booster's own traversal, None chooses by the number of rows."""
        if native is None:
            native = self.booster is not None and len(x) >= self.NATIVE_BATCH_MIN_ROWS
        if native:
            p = self.booster.inplace_predict(
                x,
                iteration_range=self.iteration_range,
                predict_type="value",
                missing=np.nan,
                validate_features=False,
            )
            return np.asarray(p, dtype=np.float64).reshape(-1)
        return _sigmoid32(self.margin(x)).astype(np.float64)


def _compile_xgboost(model: Any, n_inputs: int) -> BoostedTreesModel:
    if len(getattr(model, "classes_", ())) != 2:
        raise CompileError("only a binary XGBClassifier compiles")
    missing = getattr(model, "missing", np.nan)
    if not (isinstance(missing, float) and math.isnan(missing)):
        raise CompileError("XGBClassifier.missing must be NaN")
    booster = model.get_booster()
    raw = json.loads(booster.save_raw(raw_format="json"))
    learner = raw["learner"]
    objective = learner["objective"]["name"]
    if objective not in ("binary:logistic", "reg:logistic"):
        raise CompileError(f"objective {objective!r} is not a logistic objective")
    gb = learner["gradient_booster"]
    if gb["name"] != "gbtree":
        raise CompileError(f"booster {gb['name']!r} is not supported")
    params = learner["learner_model_param"]
    if int(params.get("num_class", "0")) > 1 or int(params.get("num_target", "1")) != 1:
        raise CompileError("multi-class / multi-target boosters are not supported")
    if int(params["num_feature"]) != n_inputs:
        raise CompileError("booster input width does not match")
    tree_model = gb["model"]
    trees_json = tree_model["trees"]
    if any(int(group) != 0 for group in tree_model["tree_info"]):
        raise CompileError("more than one output group")
    # XGBClassifier.predict uses the trees up to best_iteration when early stopping ran.
    try:
        iteration_range = (0, int(model.best_iteration) + 1)
    except AttributeError:
        iteration_range = (0, 0)  # all
    if iteration_range[1]:
        trees_json = trees_json[: int(tree_model["iteration_indptr"][iteration_range[1]])]
    base_margin = _logistic_base_margin(params["base_score"])

    # Node 0 is a one-leaf "tree" holding the base margin, so a row's margin is the float32
    # running sum of its leaves in tree order.
    features: list[Any] = [[0]]
    thresholds: list[Any] = [np.zeros(1, dtype=np.float32)]
    lefts: list[Any] = [[-1]]
    rights: list[Any] = [[-1]]
    missings: list[Any] = [[0]]
    values: list[Any] = [np.array([base_margin], dtype=np.float32)]
    roots, depth, offset = [0], 0, 1
    for tree in trees_json:
        if any(int(t) != 0 for t in tree["split_type"]) or tree["categories"]:
            raise CompileError("categorical splits are not supported")
        left = np.asarray(tree["left_children"], dtype=np.intp)
        right = np.asarray(tree["right_children"], dtype=np.intp)
        leaf = left < 0
        condition = np.asarray(tree["split_conditions"], dtype=np.float64).astype(np.float32)
        # XGBoost: left when x < condition, so right when x > the float32 just below it.
        threshold = np.nextafter(condition, np.float32(-np.inf))
        default_left = np.asarray(tree["default_left"], dtype=bool)
        features.append(np.asarray(tree["split_indices"], dtype=np.intp))
        thresholds.append(threshold)
        lefts.append(np.where(leaf, -1, left + offset))
        rights.append(np.where(leaf, -1, right + offset))
        missings.append(np.where(default_left, left, right) + offset)
        values.append(np.where(leaf, condition, np.float32(0)).astype(np.float32))
        roots.append(offset)
        depth = max(depth, _tree_depth(left, right))
        offset += len(left)
    trees = TreeArrays(
        np.concatenate(features),
        np.concatenate(thresholds),
        np.concatenate(lefts),
        np.concatenate(rights),
        np.concatenate(missings),
        np.asarray(roots),
        depth,
    )
    leaf_value = np.concatenate(values).astype(np.float32)
    return BoostedTreesModel(trees, leaf_value, base_margin, booster, iteration_range)


def _tree_depth(left: np.ndarray, right: np.ndarray) -> int:
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if left[node] >= 0:
            stack.append((int(left[node]), depth + 1))
            stack.append((int(right[node]), depth + 1))
    return deepest


def _logistic_base_margin(base_score: str) -> np.float32:
    """learner_model_param.base_score ("[4.4E-1]" in XGBoost 3, "4.4E-1" before) is a
    probability; XGBoost turns it into a margin with -logf(1.0f / p - 1.0f) in float32."""
    values = [v for v in base_score.strip("[]").split(",") if v.strip()]
    if len(values) != 1:
        raise CompileError(f"unexpected base_score {base_score!r}")
    p = np.float32(float(values[0]))
    if not 0.0 < p < 1.0:
        raise CompileError(f"base_score {base_score!r} is not a probability")
    ratio = np.float32(1.0) / p - np.float32(1.0)
    if _LOGF is not None:
        return np.float32(-_LOGF(float(ratio)))
    return np.float32(-np.log(ratio))


# float32 exp/log as the C library computes them (XGBoost calls expf/logf). When the library
# cannot be loaded the float64 result rounded to float32 is used: it differs by one float32
# ulp in a few rows out of ten thousand.
def _load_libm() -> tuple[Any, Any]:
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        expf, logf = libm.expf, libm.logf
    except (OSError, AttributeError):
        return None, None
    for fn in (expf, logf):
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_float]
    return expf, logf


_EXPF, _LOGF = _load_libm()
_ONE32 = np.float32(1.0)


def _expf32(x: np.ndarray) -> np.ndarray:
    """expf on a float32 array, equal to the C library's expf.

    exp in float64 rounded to float32 is the correctly rounded expf; the C library's expf is
    within 0.502 ulp of exact, so it can differ only where the exact value is within a hair of
    the midpoint between two float32s. Those few elements are computed by the library itself.
    """
    with np.errstate(over="ignore", under="ignore"):
        exact = np.exp(x.astype(np.float64))
        out = exact.astype(np.float32)
        if _EXPF is None:
            return out
        rounded = out.astype(np.float64)
        toward = np.where(exact >= rounded, np.float32(np.inf), np.float32(-np.inf))
        neighbour = np.nextafter(out, toward.astype(np.float32)).astype(np.float64)
        gap = np.abs(neighbour - rounded)
        with np.errstate(invalid="ignore"):
            near_midpoint = np.abs(exact - (rounded + neighbour) / 2) <= 0.01 * gap
        near_midpoint &= np.isfinite(gap)
    for i in np.flatnonzero(near_midpoint):
        out[i] = _EXPF(float(x[i]))
    return out


def _sigmoid32(margin: np.ndarray) -> np.ndarray:
    margin = np.asarray(margin, dtype=np.float32)
    with np.errstate(over="ignore"):
        return _ONE32 / (_ONE32 + _expf32(-margin))


def _sigmoid32_scalar(margin: np.float32) -> np.float32:
    if _EXPF is None:
        return _sigmoid32(np.array([margin]))[0]
    return _ONE32 / (_ONE32 + np.float32(_EXPF(-float(margin))))


def _expit_scalar(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x) if x > -745.0 else 0.0
    return e / (1.0 + e)


# --------------------------------------------------------------------------------------------
# compile_predictor


def compile_predictor(pipeline: Any, *, verify: bool = True) -> Predictor:
    """Compile a fitted pipeline into a `CompiledPredictor`, or wrap it in a
    `PipelinePredictor` when any part of it cannot be compiled. Never raises for an
    unsupported pipeline: `predictor.compiled` and `predictor.fallback_reason` say what
    happened. With `verify` (the default) the compiled predictor is compared with the pipeline
    on probe rows (typical values, extremes, NaN, None and unknown categories) and is
    only returned when every answer agrees to VERIFY_TOLERANCE.
    """
    try:
        calibrator = getattr(pipeline, "calibrator", None)
        if calibrator is not None:
            # A CalibratedPipeline: the inner pipeline compiles as usual, and the calibrator's
            # few numbers follow the compiled score. Verified below against the wrapper itself.
            predictor = _compile(pipeline.pipeline)
            predictor.calibrate(calibrator, pipeline)
        else:
            predictor = _compile(pipeline)
        if verify:
            _verify(predictor, pipeline)
    except Exception as exc:  # anything unexpected: the pipeline still answers
        return PipelinePredictor(pipeline, reason=f"{type(exc).__name__}: {exc}")
    return predictor


def _compile(pipeline: Any) -> CompiledPredictor:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline):
        raise CompileError(f"{type(pipeline).__name__} is not a Pipeline")
    steps = [step for _, step in pipeline.steps if step is not None and step != "passthrough"]
    if len(steps) < 2:
        raise CompileError("expected a ColumnTransformer and a model")
    *transforms, model = steps
    preprocessor = _compile_column_transformer(transforms[0])
    width = preprocessor.n_outputs
    projection = None
    for step in transforms[1:]:
        if type(step) is PCA and projection is None:
            projection = _compile_pca(step, width)
            width = projection.n_outputs
        else:
            raise CompileError(f"step {type(step).__name__} is not supported")
    if isinstance(model, LogisticRegression):
        compiled: LinearModel | ForestModel | BoostedTreesModel = _compile_logistic(model, width)
    elif type(model) is RandomForestClassifier:
        compiled = _compile_forest(model, width)
    elif _is_xgb_classifier(model):
        compiled = _compile_xgboost(model, width)
    else:
        raise CompileError(f"estimator {type(model).__name__} is not supported")
    return CompiledPredictor(pipeline, preprocessor, projection, compiled)


def _is_xgb_classifier(model: Any) -> bool:
    try:
        from xgboost import XGBClassifier
    except ImportError:  # pragma: no cover - xgboost is a dependency of the project
        return False
    return type(model) is XGBClassifier


def probe_frame(predictor: CompiledPredictor, rows: int = 48, *, seed: int = 0) -> pd.DataFrame:
    """Rows to compare a compiled predictor with its pipeline: values spread around the
    training distribution (from the scaler), a few extremes, NaN, None and unknown categories."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for c in predictor.preprocessor.numeric:
        centre = c.mean if c.mean else (c.fill or 0.0)
        spread = c.scale if c.scale != 1.0 else max(abs(centre), 1.0)
        x = centre + spread * rng.normal(0.0, 1.5, rows)
        x[rows - 2] = centre + 40 * spread
        x[rows - 1] = centre - 40 * spread
        x[rng.random(rows) < 0.1] = np.nan
        data[c.name] = x
    for k in predictor.preprocessor.categorical:
        choices = [*k.categories, "__unknown__", None, np.nan]
        values = np.empty(rows, dtype=object)
        values[:] = [choices[i] for i in rng.integers(0, len(choices), rows)]
        values[: len(k.categories)] = k.categories  # every known category at least once
        data[k.name] = values
    return pd.DataFrame(data)


def _verify(predictor: CompiledPredictor, pipeline: Any) -> None:
    frame = probe_frame(predictor)
    expected = np.asarray(pipeline.predict_proba(frame)[:, 1], dtype=np.float64)
    batch = predictor.predict_proba(frame)
    one = np.array([predictor.predict_proba_one(r) for r in frame.to_dict("records")])
    answers = [batch, one]
    if isinstance(predictor.model, BoostedTreesModel):  # both batch paths
        z = predictor.model_input(frame)
        raw = [predictor.model.predict(z, native=True), predictor.model.predict(z, native=False)]
        if predictor.calibrator is not None:
            raw = [predictor.calibrator.apply(r) for r in raw]
        answers += raw
    error = max(np.max(np.abs(answer - expected)) for answer in answers)
    if not error <= VERIFY_TOLERANCE:
        raise CompileError(f"compiled answers differ from the pipeline by {error:.3g}")
