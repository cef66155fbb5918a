"""The two places the web process talks to the broker: the health check and the retrain trigger.

Both use one short-timeout connection attempt without retries: Celery's defaults would retry
for a long time, and a request must not hang because Redis is down. A prediction or a feedback
needs only the database, so a broker failure is reported (health) or logged (trigger), never
raised to the client.
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0
RETRAIN_TASK = "training.tasks.retrain"


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


def queue_retrain(trigger: str) -> bool:
    """Queue the retrain check by name (the training app owns the task); True when queued."""
    try:
        with _connection() as connection:
            connection.ensure_connection(max_retries=0)
            current_app.send_task(
                RETRAIN_TASK, kwargs={"trigger": trigger}, connection=connection, retry=False
            )
        return True
    except Exception as exc:  # the feedback is committed already: log, never fail it
        logger.warning(
            "retrain_not_queued trigger=%s error=%s: %s", trigger, type(exc).__name__, exc
        )
        return False
