"""The prepared-statement path (config/prepared.py) replaces a connection PostgreSQL closed while it
sat idle, as Django's health check would, but only outside a transaction."""

import time

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from config.prepared import fetch_prepared


def _terminate_our_backend() -> int:
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):  # the backend exits asynchronously
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                break
            time.sleep(0.02)
    return pid


@pytest.mark.django_db(transaction=True)
def test_reads_outside_a_transaction_reconnect_once_and_succeed():
    assert fetch_prepared("SELECT %(x)s::int", {"x": 1}) == [(1,)]
    killed = _terminate_our_backend()
    assert fetch_prepared("SELECT %(x)s::int", {"x": 2}) == [(2,)]
    assert connection.connection.info.backend_pid != killed


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_lost_connection_is_an_error_not_a_silent_retry():
    fetch_prepared("SELECT 1", {})
    with pytest.raises(OperationalError), transaction.atomic():
        _terminate_our_backend()
        fetch_prepared("SELECT %(x)s::int", {"x": 3})
    connection.close()
