"""How scripts authenticate to the staff API: DRF tokens, created and revoked in the admin.

HTTP Basic is not accepted: each Basic guess made Django hash the password (PBKDF2, ~0.35 s of
a worker), even for an unknown user name, so anonymous guesses were a denial of service. A
token is looked up by its key in one indexed query, without any hashing. Keys that cannot be
a token (DRF's are 40 hexadecimal characters) are refused before the database is asked, so a
NUL byte or a megabyte header is a 401, never a database error.
"""

from __future__ import annotations

import re

from rest_framework import authentication, exceptions

_KEY = re.compile(r"[0-9a-f]{40}", re.ASCII)


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; the key is checked for shape before any query."""

    def authenticate_credentials(self, key):
        if not _KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
