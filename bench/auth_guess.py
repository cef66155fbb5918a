"""What one anonymous guess at the staff API costs (issue 13, finding 1), measured in-process.

    DJANGO_SETTINGS_MODULE=mindpulse.settings.test .venv/bin/python -m bench.auth_guess

Before: HTTP Basic made Django hash the guessed password with the production hasher (PBKDF2,
even for an unknown user name). Now: Basic is not read; a token is one indexed lookup. The
requests go through the whole middleware stack (Django's test client) on a throw-away SQLite
database, with Django's default password hashers (the production ones).
"""

from __future__ import annotations

import base64
import os
import statistics
import time
import uuid

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.test")
RUNS = 200


def _ms(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.test import Client
    from django.test.utils import (
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    setup_test_environment()
    names = setup_databases(verbosity=0, interactive=False)
    try:
        client = Client()
        url = f"/api/predictions/{uuid.uuid4()}"
        basic = "Basic " + base64.b64encode(b"no-such-user:guess").decode()
        hashed = _ms(lambda: make_password("guess"), 10)
        with_basic = _ms(lambda: client.get(url, HTTP_AUTHORIZATION=basic), RUNS)
        with_token = _ms(lambda: client.get(url, HTTP_AUTHORIZATION="Token " + "0" * 40), RUNS)
        print(
            f"PBKDF2 hash of one guessed password (the old cost of a Basic guess): {hashed:.1f} ms"
        )
        print(
            f"anonymous request with Basic credentials now (median of {RUNS}): {with_basic:.2f} ms"
        )
        print(f"anonymous request with a wrong token (median of {RUNS}): {with_token:.2f} ms")
    finally:
        teardown_databases(names, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
