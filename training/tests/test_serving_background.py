"""A promoted version is loaded by a thread of the process; requests keep the previous one.

The load is held on an Event, so "while it loads" is a state the test controls, not a timing.
On the old code (load inside the request) the first call after the promotion blocks on that
Event until its timeout and then answers with the new version, which the tests refuse.
"""

import threading

import pytest

from training import services, serving
from training.models import ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held_load(monkeypatch, settings):
    """serving.load_version blocked until the test releases it; counts the loads started."""
    settings.MODEL_LOAD_IN_BACKGROUND = True
    release = threading.Event()
    started = []
    real = serving.load_version

    def load(row):
        started.append(row.version)
        release.wait(timeout=10)
        return real(row)

    monkeypatch.setattr(serving, "load_version", load)
    yield release, started
    release.set()
    assert serving.wait_for_loader(timeout=30)


def test_it_keeps_serving_the_previous_version_while_the_new_one_loads(
    active_model, trained_outcome, held_load
):
    release, started = held_load
    release.set()
    assert serving.get_active_model().version == active_model.version  # cold start: in request
    release.clear()
    second = services.model_activate(services.model_register(trained_outcome), reason="test")

    for _ in range(3):  # several requests during the load: none waits, none starts a 2nd load
        assert serving.get_active_model().version == active_model.version
    assert started == [active_model.version, second.version]

    release.set()
    assert serving.wait_for_loader(timeout=30)
    assert serving.get_active_model().version == second.version


def test_it_keeps_the_previous_version_when_the_new_file_is_refused(
    active_model, trained_outcome, held_load, settings, caplog
):
    release, _ = held_load
    release.set()
    assert serving.get_active_model().version == active_model.version
    second = services.model_register(trained_outcome)
    path = settings.ARTIFACTS_DIR / second.artifact_path
    path.write_bytes(path.read_bytes()[:100])
    services.model_activate(second, reason="damaged on purpose")

    assert serving.get_active_model().version == active_model.version
    assert serving.wait_for_loader(timeout=30)
    assert serving.get_active_model().version == active_model.version
    assert serving.refusal() is None  # something answers
    assert "model_refused" in caplog.text
    assert ModelVersion.objects.get(status="active").pk == second.pk


def test_it_forgets_a_load_in_flight_in_a_forked_child(active_model, trained_outcome, held_load):
    import os

    release, _ = held_load
    release.set()
    serving.get_active_model()
    release.clear()
    services.model_activate(services.model_register(trained_outcome), reason="test")
    serving.get_active_model()  # the loader thread now waits on `release`
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's loader thread does not exist here
        state = serving._state
        ok = state.loading is None and state.loader is None and state.lock.acquire(timeout=1)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
