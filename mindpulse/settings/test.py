"""Settings of the test suite: the main settings with a throw-away secret key."""

import base64
import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
# A throw-away Fernet key (32 random bytes, url-safe base64) for the backup tests; set in the
# environment, so that the restore a test runs in another process shares it.
os.environ.setdefault("BACKUP_ENCRYPTION_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())

from .main import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test client and the live servers of the tests speak plain http on loopback: the
# production defaults (HTTPS redirect, secure-only cookies) are proven by
# mindpulse/tests/test_security_settings.py against the main settings instead.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Throttling is off unless a test turns it on (tests post far more than a client would);
# a live server started by a test may turn it on through the environment.
THROTTLE_ENABLED = env_bool("THROTTLE_ENABLED", False)  # noqa: F405
# Tests that promote a version expect the next request to serve it: the loader thread is off
# unless a test turns it on (training/tests/test_serving_background.py).
MODEL_LOAD_IN_BACKGROUND = env_bool("MODEL_LOAD_IN_BACKGROUND", False)  # noqa: F405
# Most report tests build windows of a few dozen to a few hundred rows to test the drift logic
# itself; the minimum (500 by default) is tested where a test sets it (monitoring/tests/
# test_loop_reports.py) and in the simulator's tests, which use the main default.
DRIFT_MIN_ROWS = env_int("DRIFT_MIN_ROWS", 1, minimum=1)  # noqa: F405
