"""Fixtures of the predictions tests."""

from __future__ import annotations

import pytest

from mindpulse.testing import SAMPLE_FEATURES


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Old-version models kept for explanations belong to one test's artifacts folder."""
    from predictions import explanations

    explanations.clear_cache()
    yield
    explanations.clear_cache()


@pytest.fixture
def features():
    """A valid row, inside the generated data's training ranges."""
    return dict(SAMPLE_FEATURES)


@pytest.fixture
def api(client):
    """Django's test client posting JSON."""

    class Api:
        def post(self, path, body, **extra):
            return client.post(path, body, content_type="application/json", **extra)

        def get(self, path, **extra):
            return client.get(path, **extra)

    return Api()


@pytest.fixture
def unreachable_broker(monkeypatch):
    """Point the web process's publishing at a closed port (connection refused at once).

    The write URL's environment variable outranks every other broker setting of Celery
    (including CELERY_BROKER_URL in the environment, as CI sets it).
    """
    monkeypatch.setenv("CELERY_BROKER_WRITE_URL", "redis://127.0.0.1:1/0")
