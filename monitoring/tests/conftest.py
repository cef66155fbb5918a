"""Fixtures of the monitoring tests: production predictions scored by the active model."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from training.features import FEATURE_NAMES, TARGET


def students(rows: int, seed: int) -> pd.DataFrame:
    """`rows` generated students with every feature answered, as the form and the API require.

    The generator leaves some cells blank like the real file; a prediction cannot have them.
    """
    from training import datagen

    frame = datagen.generate_students(rows + rows // 5 + 20, seed).dropna(subset=FEATURE_NAMES)
    assert len(frame) >= rows
    return frame.head(rows).reset_index(drop=True)


def shift(frame: pd.DataFrame) -> pd.DataFrame:
    """Sleep 2 hours shorter and stress 3 points higher for every student."""
    out = frame.copy()
    out["Sleep_Duration"] = out["Sleep_Duration"] - 2.0
    out["Stress_Level"] = out["Stress_Level"] + 3
    return out


@pytest.fixture
def make_predictions(active_model):
    """Write Prediction rows (and Feedback for the first `labelled`) for a generated frame.

    Rows are scored by the active model's own predictor, like the form and the API do, and
    written with bulk_create; `created_at` moves them in time.
    """
    from predictions.models import Feedback, Prediction
    from training import serving
    from training.selectors import FIELD_OF

    def make(frame: pd.DataFrame, *, labelled: int = 0, created_at: datetime | None = None):
        loaded = serving.get_active_model()
        features = frame[list(FEATURE_NAMES)].reset_index(drop=True)
        probability = np.asarray(loaded.predictor.predict_proba(features), dtype=float)
        rows = features.to_dict("records")
        predictions = [
            Prediction(
                **{FIELD_OF[name]: row[name] for name in FEATURE_NAMES},
                probability=float(p),
                label=bool(p >= loaded.threshold),
                threshold=loaded.threshold,
                model_version_id=loaded.version_id,
                channel=Prediction.Channel.BATCH,
            )
            for row, p in zip(rows, probability, strict=True)
        ]
        Prediction.objects.bulk_create(predictions)
        if created_at is not None:  # auto_now_add ignores a value given to bulk_create
            Prediction.objects.filter(pk__in=[p.pk for p in predictions]).update(
                created_at=created_at
            )
        actual = frame[TARGET].astype(bool).tolist()
        Feedback.objects.bulk_create(
            Feedback(prediction=p, actual=actual[i]) for i, p in enumerate(predictions[:labelled])
        )
        return predictions

    return make


@pytest.fixture
def staff_client(client, django_user_model):
    """A logged-in staff member who may view the reports (not a superuser)."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("analyst", password="x", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(
            codename="view_monitoringreport", content_type__app_label="monitoring"
        )
    )
    client.force_login(user)
    client.user = user
    return client


def grant(user, codename: str, app_label: str = "monitoring") -> None:
    from django.contrib.auth.models import Permission

    user.user_permissions.add(
        Permission.objects.get(codename=codename, content_type__app_label=app_label)
    )
