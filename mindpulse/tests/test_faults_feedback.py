"""Concurrent feedback against the real web server: gunicorn on loopback (several workers and
threads) on the test database, 50 client threads x 20 posts, every prediction posted 5 times
by different threads at once. Exactly one feedback per prediction, a 409 for every other
post, never a 500, and the row counts exact: the database's unique constraint decides.

On Postgres the inserts really race. On SQLite (the local default) the same test runs, but
the database serialises the writers (BEGIN IMMEDIATE, a 30 s lock timeout), so what it proves
there is that waiting writers neither fail nor duplicate.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from mindpulse.testing import SAMPLE_FEATURES
from predictions import services
from predictions.models import Feedback, Prediction

from .live import database_url, gunicorn, request

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

THREADS = 50
POSTS_PER_THREAD = 20
REPEATS = 5  # posts per prediction
FEATURES = SAMPLE_FEATURES


def test_it_keeps_one_feedback_per_prediction_under_concurrent_posts(active_model, settings):
    settings.RETRAIN_THRESHOLD = 10**6  # no retrain trigger in the middle
    total = THREADS * POSTS_PER_THREAD
    predictions = services.prediction_create_many([FEATURES] * (total // REPEATS))
    ids = [str(p.pk) for p in predictions]
    # Post p goes to prediction p // REPEATS and is sent by thread p % THREADS: the REPEATS
    # posts of a prediction come from REPEATS different threads at the same step, together.
    jobs = [[(t + THREADS * k) // REPEATS for k in range(POSTS_PER_THREAD)] for t in range(THREADS)]
    env = {"DATABASE_URL": database_url(connection.settings_dict), "RETRAIN_THRESHOLD": "1000000"}
    statuses: Counter = Counter()
    created: Counter = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    with gunicorn(settings, env, workers=3, threads=4) as server:
        start = threading.Barrier(THREADS)

        def client(indexes):
            start.wait(timeout=60)
            for index in indexes:
                try:
                    reply = request(
                        server.base_url + "/api/feedback",
                        method="POST",
                        json_body={"prediction_id": ids[index], "actual": index % 2},
                    )
                except OSError as exc:  # a refused or reset connection is a failure too
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    statuses[reply.status] += 1
                    if reply.status == 201:
                        created[ids[index]] += 1
                    elif reply.status != 409:
                        errors.append(f"{reply.status}: {reply.text[:200]}")

        threads = [threading.Thread(target=client, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        server_log = server.output()

    assert not errors, errors[:5]
    assert statuses == {201: len(ids), 409: total - len(ids)}, statuses
    assert set(created) == set(ids) and set(created.values()) == {1}
    assert Feedback.objects.count() == len(ids)
    assert Prediction.objects.count() == len(ids)
    assert set(Feedback.objects.values_list("prediction_id", flat=True)) == {
        p.pk for p in predictions
    }
    assert "Traceback" not in server_log
