"""The WSGI entry point freezes its startup objects, without touching the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_it_freezes_the_startup_objects_out_of_the_collectors_reach():
    script = (
        "import gc, sys, mindpulse.wsgi; "
        "print(gc.get_freeze_count(), 'xgboost' in sys.modules, 'sklearn' in sys.modules)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        # Unreachable on purpose: importing the application must not need the database.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    frozen, xgboost, sklearn = result.stdout.split()[-3:]
    assert int(frozen) > 100_000
    assert (xgboost, sklearn) == ("True", "True")
