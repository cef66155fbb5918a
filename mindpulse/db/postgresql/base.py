"""Django's Postgres backend, without the health-check round trip on a busy connection.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request on a
persistent connection. Under load that doubles the round trips of POST /api/predict (whose
only query is its INSERT) and cost about a third of its time in the benchmark. Here a
connection that ran a query less than HEALTH_CHECK_AFTER_IDLE_SECONDS ago is taken as alive
and not checked; one that sat idle longer (a quiet night, a database restart, a firewall that
drops idle connections) is still checked before use, as Django does.

What is given up: if the server goes away within that second, the next request on the
connection fails once instead of reconnecting, as it would without health checks; Django then
closes the broken connection at the end of that request (errors_occurred), and the following
request reconnects.
"""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.used_at = float("-inf")

    def create_cursor(self, name=None):
        self.used_at = time.monotonic()
        return super().create_cursor(name)

    def close_if_health_check_failed(self):
        recently_used = time.monotonic() - self.used_at < HEALTH_CHECK_AFTER_IDLE_SECONDS
        if self.connection is not None and not self.health_check_done and recently_used:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
