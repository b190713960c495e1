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


# One statement outside a transaction goes straight to libpq (config.prepared._alone); the rest go
# through psycopg's cursors. Both must read the same rows and raise the same errors.

_TYPED = (
    "SELECT %(id)s::uuid, %(at)s::timestamptz, %(day)s::date, %(n)s::bigint, %(names)s::text[],"
    " %(flag)s::boolean, %(none)s::text, %(id)s::uuid = %(id)s::uuid"
)


@pytest.mark.django_db(transaction=True)
def test_a_lone_read_gives_the_rows_a_cursor_gives():
    import uuid
    from datetime import UTC, date, datetime

    params = {
        "id": uuid.uuid4(),
        "at": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        "day": date(2026, 11, 30),
        "n": 2**62,
        "names": ["免息", "a'b", ""],
        "flag": True,
        "none": None,
    }
    alone = fetch_prepared(_TYPED, params)
    with transaction.atomic():  # inside a transaction: psycopg's cursor
        through_cursor = fetch_prepared(_TYPED, params)
    assert alone == through_cursor
    assert alone[0][0] == params["id"] and alone[0][4] == params["names"]


@pytest.mark.django_db(transaction=True)
def test_a_lone_read_is_prepared_per_parameter_types():
    """A None has no type: the statement prepared for it must not be reused for an integer."""
    assert fetch_prepared("SELECT %(x)s::int", {"x": None}) == [(None,)]
    assert fetch_prepared("SELECT %(x)s::int", {"x": 5}) == [(5,)]
    assert fetch_prepared("SELECT %(x)s::text", {"x": "5"}) == [("5",)]


@pytest.mark.django_db(transaction=True)
def test_a_lone_read_raises_what_django_raises_and_leaves_the_connection_usable():
    from django.db import DataError

    with pytest.raises(DataError):
        fetch_prepared("SELECT 1 / %(x)s::int", {"x": 0})
    assert fetch_prepared("SELECT 1 / %(x)s::int", {"x": 1}) == [(1,)]


@pytest.mark.django_db(transaction=True)
def test_a_lone_read_prepares_again_after_the_server_forgot_its_statements():
    assert fetch_prepared("SELECT %(x)s::int + 1", {"x": 1}) == [(2,)]
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as DISCARD ALL or a pooler resetting the session does
    assert fetch_prepared("SELECT %(x)s::int + 1", {"x": 2}) == [(3,)]


@pytest.mark.django_db(transaction=True)
def test_a_read_inside_a_transaction_sees_its_uncommitted_rows():
    from merchants.models import Merchant

    with transaction.atomic():
        merchant = Merchant.objects.create(name="Uncommitted")
        rows = fetch_prepared(
            "SELECT name FROM merchants_merchant WHERE id = %(id)s", {"id": merchant.pk}
        )
        assert rows == [("Uncommitted",)]
        transaction.set_rollback(True)


@pytest.mark.django_db(transaction=True)
def test_statements_prepared_after_the_server_forgot_some_never_reuse_a_name():
    """psycopg deallocates every statement after a ROLLBACK; one read prepared again after that
    must not take the name of another prepared since (a quote once failed with "prepared
    statement already exists" after a commit's rollback on the same connection)."""
    first, second = "SELECT %(x)s::int + 10", "SELECT %(x)s::int + 20"
    assert fetch_prepared(first, {"x": 1}) == [(11,)]
    with pytest.raises(OperationalError), transaction.atomic():  # a ROLLBACK through psycopg
        fetch_prepared("SELECT 1", {})
        raise OperationalError("roll back")
    assert fetch_prepared(second, {"x": 1}) == [(21,)]  # prepared after the DEALLOCATE ALL
    assert fetch_prepared(first, {"x": 2}) == [(12,)]  # forgotten: prepared again
    assert fetch_prepared(second, {"x": 2}) == [(22,)]
    assert fetch_prepared(first, {"x": 3}) == [(13,)]
