"""Prepared statements, pipelined, for the few queries on the quote's hot path.

Django binds parameters on the client, so PostgreSQL plans every query again, and each query costs a
round trip; for the matching and pricing reads both cost more than running them. These run through
a server-side-binding psycopg cursor on Django's own connection (same transaction, same adapters):
psycopg prepares each statement once per connection, and ``fetch_prepared_many`` sends several in
one pipeline, so a quote waits for the database once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg
from django.db import InterfaceError, OperationalError, connection

Statement = tuple[str, Mapping[str, object]]


def fetch_prepared_many(statements: Sequence[Statement]) -> list[list[tuple]]:
    """Run each ``(sql, params)`` (named ``%(name)s`` placeholders) as a prepared statement, all in
    one pipeline; the rows of each, in order.

    A kept connection that PostgreSQL closed while it sat idle (a restart, ``pg_terminate_backend``)
    is replaced and the reads run again, once, when no transaction is open: these are reads, so
    running them twice changes nothing. That is what Django's per-request health check
    (``CONN_HEALTH_CHECKS``) buys its own cursors, without its ``SELECT 1`` round trip on every
    quote. Inside a transaction the check already ran when it began (``set_autocommit``)."""
    try:
        return _fetch(statements)
    except (OperationalError, InterfaceError):
        raw = connection.connection
        if connection.in_atomic_block or (raw is not None and not raw.broken and not raw.closed):
            raise
        connection.close()
        return _fetch(statements)


def _fetch(statements: Sequence[Statement]) -> list[list[tuple]]:
    connection.ensure_connection()
    raw = connection.connection
    with connection.wrap_database_errors:
        if len(statements) == 1:
            with psycopg.Cursor(raw) as cursor:
                sql, params = statements[0]
                cursor.execute(sql, params, prepare=True, binary=True)
                return [cursor.fetchall()]
        cursors = [psycopg.Cursor(raw) for _ in statements]
        try:
            with raw.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params, prepare=True, binary=True)
            return [cursor.fetchall() for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()


def fetch_prepared(sql: str, params: Mapping[str, object]) -> list[tuple]:
    """One prepared statement's rows."""
    return fetch_prepared_many([(sql, params)])[0]
