"""Images by role: the web process runs without Evidently's stack (requirements/web.txt)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from mindpulse.testing import SAMPLE_FEATURES
from mindpulse.tests.live import database_url

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter where `import evidently` fails, as on a web host.
WEB_HOST = r"""
import importlib.abc, json, sys

class NoEvidently(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "evidently" or name.startswith("evidently."):
            raise ImportError(f"{name} is not installed on a web host")
        return None

sys.meta_path.insert(0, NoEvidently())
import django
django.setup()
from django.test import Client
import mindpulse.urls, mindpulse.wsgi  # noqa: F401, every view module

client = Client()
sample = json.loads(sys.argv[1])
answers = {
    "health": client.get("/api/health").status_code,
    "form": client.get("/").status_code,
    "predict": client.post("/api/predict", sample, content_type="application/json").status_code,
}
print(json.dumps({"answers": answers, "evidently": "evidently" in sys.modules}))
"""


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s#]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def test_it_keeps_evidently_out_of_the_web_requirements_and_locks_every_version():
    web = _pins(ROOT / "requirements" / "web.txt")
    worker_text = (ROOT / "requirements" / "worker.txt").read_text()
    worker = _pins(ROOT / "requirements" / "worker.txt")
    lock = _pins(ROOT / "constraints.txt")
    assert "evidently" not in web and "evidently" in worker
    assert "-r web.txt" in worker_text
    assert "-r requirements/worker.txt" in (ROOT / "requirements.txt").read_text()
    # Every direct pin agrees with the lock; the lock holds Evidently's dependencies too.
    for name, version in {**web, **worker}.items():
        assert lock.get(name) == version, name
    assert {"plotly", "litestar"} & set(lock)


@pytest.mark.django_db(transaction=True)
def test_it_serves_pages_and_predictions_without_evidently(active_model, settings):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "testserver",  # Django's test client
    }
    done = subprocess.run(
        [sys.executable, "-c", WEB_HOST, json.dumps(SAMPLE_FEATURES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"answers": {"health": 200, "form": 200, "predict": 200}, "evidently": False}
