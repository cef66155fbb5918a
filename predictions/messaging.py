"""The web process's broker health check (the feedback's retrain request is in training.retrain).

One short-timeout connection attempt without retries: Celery's defaults would retry for a long
time, and a request must not hang because Redis is down. A broker failure is reported, never
raised to the client.
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


def _connection():
    timeout = BROKER_TIMEOUT_SECONDS
    return current_app.connection_for_write(
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
    )


def broker_ok() -> bool:
    """True when the configured broker accepts a connection within the timeout."""
    try:
        with _connection() as connection:
            connection.ensure_connection(max_retries=0)
        return True
    except Exception as exc:  # kombu raises several unrelated types for a dead broker
        logger.warning("broker_unreachable error=%s", type(exc).__name__)
        return False
