"""GET /metrics reads PredictionTally and FeedbackTally (triggers), never the big tables, and
the tallies stay equal to what counting the tables gives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum
from django.test.utils import CaptureQueriesContext

from mindpulse import metric_series
from mindpulse.testing import SAMPLE_FEATURES
from predictions import services
from predictions.models import Feedback, Prediction
from training import services as training_services

pytestmark = pytest.mark.django_db

LATENCIES = [None, 0.2, 0.5, 0.7, 3.0, 12.0, 400.0, 9000.0]


def _counted() -> dict:
    """What the old /metrics computed with COUNTs over the predictions table."""
    buckets = {
        f"le{i}": Count("pk", filter=Q(latency_ms__lte=bound))
        for i, bound in enumerate(metric_series.LATENCY_BUCKETS_MS)
    }
    rows = (
        Prediction.objects.values("channel", "label", "model_version_id")
        .annotate(
            n=Count("pk"),
            latency_n=Count("latency_ms"),
            latency_sum=Sum("latency_ms"),
            **buckets,
        )
        .order_by("channel", "label", "model_version_id")
    )
    return {
        (r["channel"], r["label"], r["model_version_id"]): {
            **{k: v for k, v in r.items() if k not in ("channel", "label", "model_version_id")},
            "latency_sum": round(r["latency_sum"] or 0.0, 6),
        }
        for r in rows
    }


def _tallied() -> dict:
    return {
        (r["channel"], r["label"], r["model_version_id"]): {
            k: (round(v, 6) if k == "latency_sum" else v)
            for k, v in r.items()
            if k not in ("channel", "label", "model_version_id", "version")
        }
        for r in metric_series._prediction_tallies()
    }


def _store(version, *, channel, label, latency):
    return Prediction.objects.create(
        **_fields(),
        probability=0.9 if label else 0.1,
        label=label,
        threshold=0.5,
        model_version=version,
        channel=channel,
        latency_ms=latency,
    )


def _fields():
    return {
        "age": 21,
        "gender": "Female",
        "department": "Science",
        "cgpa": 3.1,
        "sleep_duration": 6.5,
        "study_hours": 4.0,
        "social_media_hours": 3.0,
        "physical_activity": 45,
        "stress_level": 6,
    }


def test_it_keeps_the_tally_equal_to_the_counts_on_every_write_path(active_model, trained_outcome):
    second = training_services.model_register(trained_outcome)
    for i, latency in enumerate(LATENCIES):
        _store(active_model, channel="api", label=i % 2 == 0, latency=latency)
    _store(second, channel="form", label=True, latency=1.5)
    services.prediction_create_many([dict(SAMPLE_FEATURES)] * 5)  # one bulk INSERT
    services.prediction_create(dict(SAMPLE_FEATURES), channel="api")
    assert _tallied() == _counted()
    assert sum(v["n"] for v in _tallied().values()) == 15

    Prediction.objects.filter(latency_ms__gt=100).delete()
    assert _tallied() == _counted()


def test_it_counts_positive_feedback_through_inserts_updates_and_deletes(active_model):
    predictions = [_store(active_model, channel="api", label=False, latency=1) for _ in range(5)]
    Feedback.objects.bulk_create(Feedback(prediction=p, actual=True) for p in predictions[:3])
    Feedback.objects.create(prediction=predictions[3], actual=False)
    Feedback.objects.filter(prediction=predictions[0]).update(actual=False)
    Feedback.objects.filter(prediction=predictions[1]).delete()
    (total, share, unconsumed) = metric_series.feedback()
    assert {s[1]["actual"]: s[2] for s in total.samples} == {0: 2, 1: 1}
    assert share.samples[0][2] == pytest.approx(3 / 5)
    assert unconsumed.samples[0][2] == 3


def test_it_scrapes_without_reading_the_predictions_or_feedback_tables(active_model):
    services.prediction_create_many([dict(SAMPLE_FEATURES)] * 3)
    with CaptureQueriesContext(connection) as queries:
        families = metric_series.collect()
    big = [
        q["sql"]
        for q in queries.captured_queries
        if '"predictions_prediction"' in q["sql"] or '"predictions_feedback"' in q["sql"]
    ]
    assert big == []
    counted = {f.name: f for f in families}["mindpulse_predictions_total"]
    assert sum(sample[2] for sample in counted.samples) == 3
