"""Settings of the test suite: the main settings with a throw-away secret key."""

import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))

from .main import *  # noqa: E402,F403

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
