"""Settings of the test suite: the main settings with a throw-away secret key."""

import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(64))

from .main import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
