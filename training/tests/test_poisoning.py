"""The poisoning attack of issue 13, played through the HTTP API: one client posts 5,000 flipped
labels at the rate limit, through the real views and throttles (a fake clock stands in for the
minutes), half in the original POST /feedback shape and half as POST /api/feedback on
predictions it made a day earlier (as a patient attacker would, to look like a student). Then
the retrains run. The model in service must be unchanged, or any promoted model must keep its
ROC AUC on clean held-out rows within 0.01.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from sklearn.metrics import roc_auc_score

from mindpulse import throttling
from monitoring.models import Alert
from predictions.models import Feedback
from predictions.validation import validate_features
from training import datagen, pipeline, retrain, serving, triggers
from training.features import FEATURE_NAMES, TARGET
from training.models import RetrainRun

from .conftest import student_rows

pytestmark = pytest.mark.django_db

ATTACK = 5000
CLEAN_ROWS = 40000
WINDOW = timedelta(seconds=60)
STORED = {200, 201}  # a stored feedback's answer (issue 14 moves POST /feedback to 200)


@pytest.fixture
def throttled(settings):
    settings.THROTTLE_ENABLED = True
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "predict": (600, 60)}
    settings.THROTTLE_RATES["feedback"] = (600, 60)
    throttling.reset()
    yield settings.THROTTLE_RATES["feedback"][0]
    throttling.reset()


def _clean_auc() -> float:
    """ROC AUC of the model in service on rows nobody posted (generated, another seed).

    On CLEAN_ROWS, not 4,000: the same model scored 0.694 and 0.681 on two 4,000-row clean
    samples (seeds 2024 and 11), 0.693 and 0.692 on two of 40,000. At 4,000 rows the noise of
    the estimate alone is of the order of the 0.01 the test allows.
    """
    frame = datagen.generate_students(CLEAN_ROWS, seed=2024)
    loaded = serving.get_active_model()
    scores = pipeline.predict_proba(loaded.pipeline, frame.loc[:, list(FEATURE_NAMES)])
    return float(roc_auc_score(frame[TARGET].astype(int), scores))


def _at_the_rate_limit(client, clock, limit, requests):
    """Send (path, body) requests `limit` per minute of the fake clock; after each minute's
    `limit`, one more proves the throttle refuses it (a full minute). Returns the answers."""
    answers = []
    for start in range(0, len(requests), limit):
        minute = requests[start : start + limit]
        for path, body in minute:
            answers.append(client.post(path, body, content_type="application/json"))
        if len(minute) == limit:
            path, body = minute[0]
            assert client.post(path, body, content_type="application/json").status_code == 429
        clock.shift(WINDOW)
    return answers


def _period_start() -> datetime:
    """The start of the previous client-key period, plus a day: the whole attack fits in one
    period of CLIENT_KEY_ROTATION_DAYS, and lies in the past."""
    period = django_settings.CLIENT_KEY_ROTATION_DAYS * 86400
    now = datetime.now(UTC).timestamp()
    return datetime.fromtimestamp((now // period) * period - period + 86400, UTC)


def test_it_keeps_the_model_when_one_client_posts_5000_flipped_labels(
    client, active_model, reference_data, throttled, settings
):
    before = _clean_auc()
    rows = [r for r in student_rows(ATTACK + 500, seed=77) if not validate_features(r)[1]]
    rows = rows[:ATTACK]
    assert len(rows) == ATTACK
    features = [{name: row[name] for name in FEATURE_NAMES} for row in rows]
    flipped = [int(not row[TARGET]) for row in rows]
    half = ATTACK // 2

    with time_machine.travel(_period_start(), tick=False) as clock:
        # The original API's shape: a prediction and its (flipped) label in one call.
        original = [
            ("/feedback", {"features": f, "prediction": 0, "actual": a})
            for f, a in zip(features[:half], flipped[:half], strict=True)
        ]
        answers = _at_the_rate_limit(client, clock, throttled, original)
        assert {a.status_code for a in answers} <= STORED and len(answers) == half

        # Predictions now, their flipped labels a day later, as a student's would come.
        predicted = _at_the_rate_limit(
            client, clock, throttled, [("/api/predict", f) for f in features[half:]]
        )
        ids = [answer.json()["prediction_id"] for answer in predicted]
        clock.shift(settings.MIN_LABEL_AGE + timedelta(hours=1))
        linked = [
            ("/api/feedback", {"prediction_id": i, "actual": a})
            for i, a in zip(ids, flipped[half:], strict=True)
        ]
        answers = _at_the_rate_limit(client, clock, throttled, linked)
        assert {a.status_code for a in answers} <= STORED and len(answers) == half

    stored = Feedback.objects.values_list("source", "client_key").distinct()
    assert Feedback.objects.count() == ATTACK
    assert {source for source, _key in stored} == {"original_api", "student_link"}
    assert len({key for _source, key in stored}) == 1 and "" not in {k for _s, k in stored}

    # The retrain the feedback asks for: the poisoned labels do not reach the data trigger's
    # threshold (the performance trigger may fire on the few it counts: it is allowed to).
    run = retrain.model_retrain(trigger=RetrainRun.Trigger.FEEDBACK)
    assert run.triggers["data"]["value"] < settings.RETRAIN_THRESHOLD
    assert "data" not in triggers.fired(run.triggers)
    kinds = set(Alert.objects.values_list("kind", flat=True))
    assert {"labels_client_share", "labels_calibration"} <= kinds
    # A retrain uses the attacker's share at most, never its original-shape labels, and
    # whatever it promotes still ranks clean rows as well.
    share = settings.RETRAIN_MAX_CLIENT_SHARE
    assert run.rows_production <= share * (run.rows_reference + run.rows_production) + 1
    assert not Feedback.objects.filter(consumed_by=run, source="original_api").exists()
    after = _clean_auc()
    # Shown with `pytest -s` (the figures of docs/security.md).
    print(
        f"\npoisoning: {run.decision}, rows_production={run.rows_production}, "
        f"clean ROC AUC before {before:.4f} after {after:.4f}"
    )
    if run.decision == RetrainRun.Decision.PROMOTED:
        assert after >= before - 0.01, (before, after)
    else:
        assert serving.get_active_model().version_id == active_model.pk
        assert after == before
