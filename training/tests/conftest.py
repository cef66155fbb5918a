"""Fixtures of the retrain tests: champions of known strength and labelled production rows."""

from __future__ import annotations

import dataclasses

import pytest

from training import datagen, pipeline, services
from training.features import FEATURE_NAMES, TARGET


@pytest.fixture(autouse=True)
def _retrain_settings(settings):
    # The test process must not lower its own priority; a real worker still does.
    settings.RETRAIN_NICE = 0
    settings.ADMINS = [("Ops", "ops@example.org")]


@pytest.fixture
def eager():
    """Run queued tasks (the alert deliveries) in-process, so a test counts what is sent."""
    from mindpulse.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


def student_rows(n: int, *, seed: int) -> list[dict]:
    """Generated students as validated feature dicts (no blanks), with their label."""
    frame = datagen.generate_students(n, seed=seed)
    frame["Physical_Activity"] = frame["Physical_Activity"].fillna(60)
    rows = []
    for record in frame.to_dict("records"):
        row = {name: record[name] for name in FEATURE_NAMES}
        for name in ("Age", "Physical_Activity", "Stress_Level"):
            row[name] = int(row[name])
        row[TARGET] = bool(record[TARGET])
        rows.append(row)
    return rows


def add_predictions(n: int, *, seed: int):
    """Store n predictions answered by the model in service (no feedback yet)."""
    from predictions import services as prediction_services

    rows = student_rows(n, seed=seed)
    features = [{k: v for k, v in row.items() if k != TARGET} for row in rows]
    predictions = prediction_services.prediction_create_many(features)
    return predictions, [row[TARGET] for row in rows]


def add_labelled(n: int, *, seed: int, outcome: str = "generated"):
    """Store n predictions with their feedback; `outcome` sets how right the served label was:
    "generated" (the generator's label), "right" (the served label) or "wrong" (its opposite)."""
    from predictions.models import Feedback

    predictions, labels = add_predictions(n, seed=seed)
    actual = {
        "generated": labels,
        "right": [p.label for p in predictions],
        "wrong": [not p.label for p in predictions],
    }[outcome]
    Feedback.objects.bulk_create(
        [Feedback(prediction=p, actual=a) for p, a in zip(predictions, actual, strict=True)]
    )
    return predictions


def register_champion(outcome: pipeline.TrainingOutcome, **changes):
    """Register outcome's winner (with `changes`, e.g. another threshold) as the model in service.

    The registered reference file is the outcome's split: what the champion really trained on,
    which the gate reads to compare on rows the champion never saw.
    """
    winner = dataclasses.replace(outcome.winner, **changes)
    version = services.model_register(dataclasses.replace(outcome, winner=winner))
    return services.model_activate(version, reason="test champion")


def _outcome(frame, split, result) -> pipeline.TrainingOutcome:
    fingerprint = pipeline.data_fingerprint(frame)
    return pipeline.TrainingOutcome([result], result, split, fingerprint, len(frame))


@pytest.fixture
def weak_champion(db):
    """A model in service that learnt the relation backwards: fitted on flipped labels, so its
    ROC AUC (~0.3) is below any challenger's by more than the gate's interval on a few hundred
    rows (the gate asks the lower end of the paired difference to clear -tolerance)."""
    frame = datagen.generate_students(3000, seed=7)
    frame[TARGET] = ~frame[TARGET].astype(bool)
    split = pipeline.split_dataset(frame, seed=42)
    result = pipeline.fit_candidate("logistic_regression", split, n_jobs=1)
    return register_champion(_outcome(frame, split, result))


@pytest.fixture
def recall_champion(db, trained_outcome):
    """The foundation's winner at a threshold so low that it flags every student: its recall
    (1.0) beats any challenger's, whose threshold maximises F1."""
    return register_champion(trained_outcome, threshold=1e-6)


@pytest.fixture
def memorising_champion(db, trained_outcome, reference_data):
    """A deep forest fitted on every reference row, registered as such (every row in its
    train split): no test row of a retrain on the reference data is new to it."""
    from training.selectors import reference_dataframe

    frame = reference_dataframe()
    X, y = pipeline.features_of(frame), frame[TARGET].astype(int).to_numpy()
    fitted = pipeline.build_pipeline("random_forest", seed=1, n_jobs=1)
    fitted.set_params(model__max_depth=None, model__min_samples_leaf=1)
    fitted.fit(X, y)
    split = pipeline.DatasetSplit(X, y, X, y, X, y)
    result = dataclasses.replace(trained_outcome.winner, pipeline=fitted, threshold=0.5)
    return register_champion(_outcome(frame, split, result))
