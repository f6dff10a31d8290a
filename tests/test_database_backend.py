"""Our PostgreSQL backend: Django's health check, skipped for connections in continuous use."""

import psycopg
import pytest
from django.db import connection

from billing.postgresql import base as backend


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(backend.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def pings(monkeypatch):
    calls = []
    real_is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: calls.append(1) or real_is_usable())
    return calls


def request_boundary() -> None:
    """What Django does between two requests (request_finished, then request_started)."""
    connection.close_if_unusable_or_obsolete()
    connection.close_if_unusable_or_obsolete()


@pytest.mark.django_db(transaction=True)
def test_a_connection_released_moments_ago_is_not_pinged(clock, pings):
    connection.ensure_connection()
    request_boundary()
    clock[0] += 0.3
    request_boundary()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert pings == []


@pytest.mark.django_db(transaction=True)
def test_a_connection_idle_for_a_while_is_pinged_and_replaced_when_the_server_dropped_it(clock, pings):
    connection.ensure_connection()
    dropped_pid = connection.connection.info.backend_pid
    request_boundary()
    # The server drops the idle connection (a restart, a failover, an idle timeout).
    params = connection.get_connection_params()
    with psycopg.connect(
        dbname=params["dbname"],
        user=params.get("user"),
        host=params.get("host"),
        port=params.get("port"),
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dropped_pid])
    clock[0] += backend.DatabaseWrapper.health_check_bypass_seconds + 1
    connection.close_if_unusable_or_obsolete()  # the next request starts
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != dropped_pid
    assert pings == [1]
