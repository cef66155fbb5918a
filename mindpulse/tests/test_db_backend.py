"""mindpulse.db.postgresql: the health check only on a connection that sat idle."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connections

from mindpulse.db.postgresql import base

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]
connection = connections["default"]  # the wrapper itself, not the proxy


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the Postgres backend")
    assert isinstance(connection, base.DatabaseWrapper)


def _next_request():
    """What Django does between two requests on a persistent connection."""
    connection.close_if_unusable_or_obsolete()


def _query():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def test_it_skips_the_health_check_of_a_connection_used_within_the_second():
    _query()
    _next_request()
    with mock.patch.object(connection, "is_usable", wraps=connection.is_usable) as check:
        assert _query() == 1
    assert check.call_count == 0


def test_it_checks_a_connection_that_sat_idle():
    _query()
    _next_request()
    connection.used_at -= base.HEALTH_CHECK_AFTER_IDLE_SECONDS + 1
    with mock.patch.object(connection, "is_usable", wraps=connection.is_usable) as check:
        assert _query() == 1
        assert _query() == 1  # once per request
    assert check.call_count == 1


def test_it_reconnects_when_the_server_dropped_an_idle_connection():
    _query()
    old_pid = connection.connection.info.backend_pid
    with connection._nodb_cursor() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    _next_request()
    connection.used_at -= base.HEALTH_CHECK_AFTER_IDLE_SECONDS + 1
    assert _query() == 1
    assert connection.connection.info.backend_pid != old_pid
