"""Prepared statements, pipelined, for the few queries on the quote's hot path.

Django binds parameters on the client, so PostgreSQL plans every query again, and each query costs a
round trip; for the matching and pricing reads both cost more than running them. These run on
Django's own connection (same transaction, same adapters), each statement prepared once per
connection, and ``fetch_prepared_many`` sends several in one pipeline, so a quote waits for the
database once.

Several statements, or one inside a transaction, go through server-side-binding psycopg cursors.
One statement outside a transaction (a quote's budget read) goes straight to libpq: psycopg's
adapters dump the parameters and load the rows, but its cursor's query conversion, generators and
wait loop, which cost a quote more than the libpq call itself, are skipped. libpq releases the GIL
while it waits, as psycopg's wait does."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from django.db import InterfaceError, OperationalError, connection
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

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
            sql, params = statements[0]
            rows = _alone(raw, sql, params)
            if rows is not None:
                return [rows]
            with psycopg.Cursor(raw) as cursor:
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


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_IDLE = pq.TransactionStatus.IDLE
_PIPELINE_OFF = pq.PipelineStatus.OFF
_ROWS = pq.ExecStatus.TUPLES_OK
_DONE = pq.ExecStatus.COMMAND_OK


@functools.lru_cache(maxsize=256)
def _numbered(sql: str) -> tuple[bytes, tuple[str, ...]] | None:
    """``sql`` with ``$1, $2 …`` for its ``%(name)s`` placeholders, and the names in that order;
    None for anything else with a ``%`` in it (left to psycopg's own conversion)."""
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found[1] not in names:
            names.append(found[1])
        return f"${names.index(found[1]) + 1}"

    numbered = _PLACEHOLDER.sub(number, sql)
    return None if "%" in numbered else (numbered.encode(), tuple(names))


@dataclass(slots=True)
class _AloneState:
    """What one connection (so one thread) keeps for ``_alone``: its Transformer, which remembers
    the dumpers and loaders it looked up; the statements prepared, by query and parameter types;
    and a counter that names them and never goes back, so a name is never prepared twice."""

    transformer: Transformer
    prepared: dict[tuple, bytes] = field(default_factory=dict)
    count: int = 0


def _alone(raw: psycopg.Connection, sql: str, params: Mapping[str, object]) -> list[tuple] | None:
    """The rows of one prepared statement run through libpq, or None when this path does not
    apply: a transaction or a pipeline is open (psycopg's cursor keeps track of those), or the
    SQL has a ``%`` other than a placeholder."""
    pgconn = raw.pgconn
    numbered = _numbered(sql)
    if (
        numbered is None
        or not raw.autocommit
        or pgconn.transaction_status != _IDLE
        or pgconn.pipeline_status != _PIPELINE_OFF
    ):
        return None
    query, names = numbered
    state = raw.__dict__.get("_alone")
    if state is None:
        state = raw.__dict__["_alone"] = _AloneState(Transformer(raw))
    transformer = state.transformer
    values = transformer.dump_sequence(
        [params[name] for name in names], [PyFormat.AUTO] * len(names)
    )
    # Prepared per parameter types (a None, say, has none), as psycopg does.
    key = (query, transformer.types)
    with raw.lock:
        for attempt in (1, 2):
            name = state.prepared.get(key)
            if name is None:
                state.count += 1
                name = b"_alone_%d" % state.count
                _check(raw, pgconn.prepare(name, query, transformer.types))
                state.prepared[key] = name
            result = pgconn.exec_prepared(
                name, values, transformer.formats, result_format=pq.Format.BINARY
            )
            if result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000" and attempt == 1:
                # The server forgot them: psycopg sends DEALLOCATE ALL after every ROLLBACK on
                # this connection, and a pooler may DISCARD ALL. Prepare them again.
                state.prepared.clear()
                continue
            _check(raw, result)
            transformer.set_pgresult(result)
            return transformer.load_rows(0, result.ntuples, tuple)
    raise AssertionError("unreachable")


def _check(raw: psycopg.Connection, result: pq.abc.PGresult) -> None:
    if result.status in (_ROWS, _DONE):
        return
    if raw.pgconn.status == pq.ConnStatus.BAD:  # the server went away: what psycopg raises then
        raise psycopg.OperationalError(pq.error_message(result) or "the connection was lost")
    raise errors.error_from_result(result, encoding=raw.info.encoding)


def fetch_prepared(sql: str, params: Mapping[str, object]) -> list[tuple]:
    """One prepared statement's rows."""
    return fetch_prepared_many([(sql, params)])[0]
