"""Benchmark of nightly settlement (the settlement performance issue), not a pytest module.

    python tests/bench/bench_settlement.py [--events 1000000] [--merchants 10000] [--days 10]
                                           [--history 10] [--batch-size 500] [--repeat 1]
                                           [--also-batch-sizes 250,1000] [--explain] [--check]
                                           [--broker redis://127.0.0.1:6379/12]

Builds a throw-away database (``DATABASE_URL``'s server, else a private embedded one, as the test
settings do), migrates it and loads, set-based in SQL, ``--merchants`` merchants with one approved
campaign each and ``--events`` ledger events spread evenly over them and interleaved in time (a
merchant's events are scattered over the table, as they arrive on a real day), dated over the
``--days`` business days up to D (yesterday, Shanghai): in each group of ten of a merchant's events,
nine charges and one reversal of less than any charge, each posted as a balanced entry on the
merchant's receivable and subsidy-income accounts. Before them, unless ``--history 0``, each merchant
has ``--history`` charges dated P (the day before those days) that the product settled (inline) the
night of P, so every merchant has a previous statement as on any night but the first, and 2 % of
the benchmark's charges are dated P (late arrivals: adjustments). Loads run with
``session_replication_role = replica`` (no per-row triggers); the campaigns' budgets used and daily
usage are then set from the ledger, and ``reconcile()`` must pass before anything is timed.

Then, with D unsettled each time (VACUUM ANALYZE and CHECKPOINT before every measurement):

- one batch (``--batch-size`` merchants) through ``settle_merchants`` in this process, timed per
  statement and rolled back: where a batch's time goes;
- the floor: one transaction calling ``settle_merchants`` for every merchant at once (the same
  ``INSERT … SELECT``, ``UPDATE … FROM``, ``INSERT … SELECT … GROUP BY`` and settlement postings as
  a batch), then ``SET CONSTRAINTS ALL IMMEDIATE`` so the deferred checks a commit would run
  (foreign keys, the ledger's balance trigger) run too, timed per statement, then ROLLBACK;
- ``settlement_run_for_date(business_date=D)`` through real ``celery -A config worker -Q settlement
  -P solo`` processes on a Redis database of its own (flushed first), with 1 and then 2 workers
  started before the run, timed from the run's ``started_at`` to its ``finished_at`` (the
  ``SettlementRun`` row is polled; meanwhile the database's active sessions are sampled: what they
  run and what they wait for). After each run: the run completed, one statement dated D per
  merchant, every event marked and in exactly one statement of its merchant, the benchmark's
  events in D's statements and in their totals, the late ones as adjustments, and ``reconcile()``
  ok; then D is put back to unsettled (its statements, lines and settlement entries deleted and its
  events unmarked, with triggers off);
- ``--repeat N``: the floor and both runs N times (the targets use the medians);
- ``--also-batch-sizes``: more 2-worker runs with other batch sizes (reported, not targets);
- ``--explain``: EXPLAIN (ANALYZE, BUFFERS) of each statement for one batch and for all merchants.

Targets (issue): with 2 workers at most 3 times the floor's time, and under 120 s in any case.
``--check`` exits 1 when a target is missed. The batch size is ``SETTLEMENT_BATCH_SIZE`` (the
workers and this process read it from the environment); ``--batch-size`` sets it. The figures
depend on the machine's load: the load average is printed with each.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 3.0
TARGET_SECONDS = 120.0


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=10, help="business days up to D (default 10)")
    parser.add_argument(
        "--history",
        type=int,
        default=10,
        help="charges per merchant settled the night before, so each has a previous statement;"
        " 0: none (and no late events)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=int(os.environ.get("SETTLEMENT_BATCH_SIZE", "500")),
        help="merchants per batch (SETTLEMENT_BATCH_SIZE, default 500)",
    )
    parser.add_argument(
        "--also-batch-sizes",
        default="",
        help="comma-separated batch sizes for extra 2-worker runs (reported, not targets)",
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument(
        "--repeat", type=int, default=1, help="floor, 1- and 2-worker runs this many times"
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.merchants < 1 or args.events < args.merchants:
        parser.error("need at least one merchant and one event per merchant")
    return args


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    # Before Django reads its settings: tasks go to this broker, batches have this size.
    os.environ["CELERY_BROKER_URL"] = ARGS.broker
    os.environ["SETTLEMENT_BATCH_SIZE"] = str(ARGS.batch_size)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from installments import ledger, settlement  # noqa: E402

# --- loading ------------------------------------------------------------------------------------


def load(*, events: int, merchants: int, days: int, history: int, business_date) -> dict:
    """Merchants, campaigns, accounts, events and postings, set-based; returns what was loaded.

    With ``history``, each merchant first gets that many charges dated P (the day before the
    benchmark's days), settled by the product (``settlement_run_for_date(P, inline=True)``), so
    that every merchant has a previous statement, as on any night but the first; then 2 % of the
    benchmark's events are dated P too (late arrivals: adjustments)."""
    per_merchant = -(-events // merchants)  # a merchant's events: s = 0 … per_merchant − 1
    first_day = business_date - timedelta(days=days - 1)
    previous_day = first_day - timedelta(days=1)
    with connection.cursor() as cursor:
        _load_merchants(cursor, merchants)
        if history:
            _load_events(
                cursor,
                first_id=1,
                count=merchants * history,
                merchants=merchants,
                kind_sql="'charge'",
                day_sql="%(previous_day)s::date",
                params={"previous_day": previous_day},
            )
            cursor.execute("ANALYZE")
            settlement.settlement_run_for_date(
                business_date=previous_day, requested_by="bench history", inline=True
            )
        # Event g of the benchmark's set is merchant g % M's event s = g / M, so each merchant's
        # events are spread over the whole table, as they arrive on a real day. In each group of
        # ten of a merchant's events (s / 10), all on one day, the tenth is a reversal smaller than
        # any charge, so every (campaign, day) nets positive, as the daily-usage table requires.
        cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM installments_ledgerentry")
        (first_id,) = cursor.fetchone()
        _load_events(
            cursor,
            first_id=first_id,
            count=events,
            merchants=merchants,
            kind_sql="CASE WHEN s %% 10 = 9 THEN 'reversal' ELSE 'charge' END",
            day_sql="""CASE WHEN %(late)s AND s %% 50 = 0 THEN %(previous_day)s::date
                            ELSE %(first_day)s::date + s / 10 * 10 * %(days)s / %(per)s END""",
            params={
                "late": bool(history),
                "previous_day": previous_day,
                "first_day": first_day,
                "days": days,
                "per": per_merchant,
            },
        )
        # Budgets agree with the ledger (reconcile's campaign checks).
        cursor.execute(
            """
            INSERT INTO campaigns_campaigndailyusage (merchant_id, campaign_id, day, used)
            SELECT e.merchant_id, e.campaign_id, e.charge_day, SUM(p.amount)
              FROM installments_ledgerentry e
              JOIN installments_ledgerposting p ON p.entry_id = e.id
              JOIN bench_merchant b ON b.merchant_id = e.merchant_id
                                   AND p.account_id = b.receivable_id
             WHERE e.kind <> 'settlement'
             GROUP BY e.merchant_id, e.campaign_id, e.charge_day
            """
        )
        cursor.execute(
            """
            UPDATE campaigns_campaign c SET budget_used = u.used
              FROM (SELECT campaign_id, SUM(used) AS used FROM campaigns_campaigndailyusage
                     GROUP BY campaign_id) u
             WHERE c.id = u.campaign_id
            """
        )
        cursor.execute("DROP TABLE bench_merchant")
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE kind = 'charge'), count(*) FILTER (WHERE kind = 'reversal'),
                   count(*) FILTER (WHERE business_date = %s)
              FROM installments_ledgerentry WHERE statement_id IS NULL AND kind <> 'settlement'
            """,
            [previous_day],
        )
        charges, reversals, late = cursor.fetchone()
    vacuum()
    return {
        "charges": charges,
        "reversals": reversals,
        "late": late,
        "history": merchants * history,
        "previous_day": previous_day,
    }


def _load_merchants(cursor, merchants: int) -> None:
    """Merchants, one approved campaign each, their receivable and subsidy-income accounts, and a
    temporary table numbering them (n) for the event loads."""
    cursor.execute(
        """
        INSERT INTO merchants_merchant (id, name, legal_name, currency, timezone, status,
                                        frozen_reason, paid_terms_disabled, created_at, updated_at)
        SELECT gen_random_uuid(), 'Bench merchant ' || g, '', 'CNY', 'Asia/Shanghai', 'active',
               '', '{}', now(), now()
          FROM generate_series(0, %(merchants)s - 1) g
        """,
        {"merchants": merchants},
    )
    cursor.execute(
        """
        CREATE TEMP TABLE bench_merchant AS
        SELECT (row_number() OVER (ORDER BY m.id) - 1)::int AS n, m.id AS merchant_id,
               gen_random_uuid() AS campaign_id
          FROM merchants_merchant m WHERE m.name LIKE 'Bench merchant %'
        """
    )
    cursor.execute(
        """
        INSERT INTO campaigns_campaign (
            id, merchant_id, name, description, status, starts_at, ends_at, all_products,
            categories, skus, exclude_skus, stores, channels, min_amount, max_amount,
            budget_total, daily_cap, alert_threshold_bp, alert_emails, per_consumer_limit,
            budget_used, stacks_with_government_subsidy, rejection_reason, created_at,
            updated_at, alert_arm)
        SELECT b.campaign_id, b.merchant_id, 'Bench campaign ' || b.n, '', 'approved',
               now() - interval '60 days', now() + interval '60 days', true,
               '{}', '{}', '{}', '{}', '{online,in_store}', NULL, NULL,
               1000000000000, NULL, 8000, '{}', NULL, 0, true, '', now(), now(), 0
          FROM bench_merchant b
        """
    )
    cursor.execute(
        """
        INSERT INTO installments_ledgeraccount (merchant_id, kind, currency)
        SELECT b.merchant_id, k.kind, 'CNY'
          FROM bench_merchant b CROSS JOIN (VALUES ('receivable'), ('subsidy_income')) k(kind)
        """
    )
    cursor.execute(
        "ALTER TABLE bench_merchant ADD COLUMN receivable_id bigint, ADD COLUMN income_id bigint"
    )
    cursor.execute(
        """
        UPDATE bench_merchant b
           SET receivable_id = r.id, income_id = i.id
          FROM installments_ledgeraccount r, installments_ledgeraccount i
         WHERE r.merchant_id = b.merchant_id AND r.kind = 'receivable'
           AND i.merchant_id = b.merchant_id AND i.kind = 'subsidy_income'
        """
    )
    cursor.execute("CREATE UNIQUE INDEX ON bench_merchant (n)")
    cursor.execute("ANALYZE bench_merchant")


def _load_events(
    cursor, *, first_id: int, count: int, merchants: int, kind_sql: str, day_sql: str, params
) -> None:
    """``count`` events with ids from ``first_id`` (event g: merchant g % M, its event s = g / M;
    kind and business date are SQL expressions of s), each with its two balanced postings on the
    merchant's receivable and subsidy-income accounts. Amounts in fen: a charge 1000 + (id × 7919)
    mod 49000, a reversal 100 + id mod 900. The ledger's triggers (balance at commit, append-only)
    and foreign keys are off for the load only: the data satisfy them (reconcile checks it)."""
    params = {**params, "first_id": first_id, "count": count, "merchants": merchants}
    with transaction.atomic():
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO installments_ledgerentry
                   (id, merchant_id, kind, currency, business_date, charge_day, campaign_id,
                    plan_id, statement_id, memo, created_at)
            SELECT %(first_id)s + g, b.merchant_id, d.kind, 'CNY', d.day, d.day, b.campaign_id,
                   NULL, NULL, '', now()
              FROM generate_series(0, %(count)s - 1) g
              JOIN bench_merchant b ON b.n = g %% %(merchants)s
             CROSS JOIN LATERAL (SELECT g / %(merchants)s) AS n(s)
             CROSS JOIN LATERAL (SELECT """  # noqa: S608 (the bench's own SQL expressions)
            + kind_sql
            + ", ("
            + day_sql
            + """)::date) AS d(kind, day)
             ORDER BY g
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO installments_ledgerposting
                   (entry_id, merchant_id, account_id, amount, currency)
            SELECT e.id, e.merchant_id,
                   CASE WHEN leg.receivable THEN b.receivable_id ELSE b.income_id END,
                   CASE WHEN leg.receivable THEN a.receivable ELSE -a.receivable END, 'CNY'
              FROM installments_ledgerentry e
              JOIN bench_merchant b ON b.merchant_id = e.merchant_id
             CROSS JOIN LATERAL (
                   SELECT CASE WHEN e.kind = 'charge' THEN 1000 + (e.id * 7919) %% 49000
                               ELSE -(100 + e.id %% 900) END) AS a(receivable)
             CROSS JOIN (VALUES (true), (false)) AS leg(receivable)
             WHERE e.id >= %(first_id)s
             ORDER BY e.id, leg.receivable DESC
            """,
            params,
        )
        cursor.execute(
            """
            SELECT setval(pg_get_serial_sequence('installments_ledgerentry', 'id'),
                          (SELECT max(id) FROM installments_ledgerentry))
            """
        )


def vacuum() -> None:
    with connection.cursor() as cursor:
        for table in (
            "installments_ledgerentry",
            "installments_ledgerposting",
            "installments_ledgeraccount",
            "installments_statement",
            "installments_statementline",
            "installments_settlementrun",
            "installments_settlementbatch",
            "campaigns_campaign",
            "campaigns_campaigndailyusage",
            "merchants_merchant",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")


def unsettle(business_date) -> None:
    """Put D back to unsettled: what its settlement wrote is deleted and its events unmarked
    (triggers off); the previous night's statements stay."""
    params = {"d": business_date}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            """
            CREATE TEMP TABLE bench_undone ON COMMIT DROP AS
            SELECT id FROM installments_statement WHERE business_date = %(d)s
            """,
            params,
        )
        cursor.execute(
            "DELETE FROM installments_statementline WHERE statement_id IN"
            " (SELECT id FROM bench_undone)"
        )
        cursor.execute(
            """
            DELETE FROM installments_ledgerposting p USING installments_ledgerentry e
             WHERE p.entry_id = e.id AND e.kind = 'settlement'
               AND e.statement_id IN (SELECT id FROM bench_undone)
            """
        )
        cursor.execute(
            """
            DELETE FROM installments_ledgerentry
             WHERE kind = 'settlement' AND statement_id IN (SELECT id FROM bench_undone)
            """
        )
        cursor.execute(
            """
            UPDATE installments_ledgerentry SET statement_id = NULL
             WHERE statement_id IN (SELECT id FROM bench_undone)
            """
        )
        cursor.execute(
            "DELETE FROM installments_statement WHERE id IN (SELECT id FROM bench_undone)"
        )
        cursor.execute(
            """
            DELETE FROM installments_settlementbatch b USING installments_settlementrun r
             WHERE b.run_id = r.id AND r.business_date = %(d)s
            """,
            params,
        )
        cursor.execute("DELETE FROM installments_settlementrun WHERE business_date = %(d)s", params)
    vacuum()


# --- the floor ----------------------------------------------------------------------------------

_NAMES = {
    settlement._LOCK_SQL: "advisory locks",
    settlement._STATEMENTS_SQL: "statements INSERT … SELECT DISTINCT",
    settlement._MARK_SQL: "marking UPDATE … FROM",
    settlement._LINES_SQL: "lines INSERT … SELECT … GROUP BY",
    settlement._TOTALS_SQL: "totals UPDATE … FROM",
    ledger._STATEMENT_SETTLEMENTS_SQL: "settlement entries and postings",
}


def _name(sql: str) -> str:
    if sql in _NAMES:
        return _NAMES[sql]
    if "INSERT INTO installments_ledgeraccount" in sql:
        return "settled accounts"
    return " ".join(sql.split())[:50]


@contextmanager
def statement_timer(timings: list[tuple[str, float]]):
    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((_name(sql), time.perf_counter() - started))

    with connection.execute_wrapper(wrapper):
        yield


def wal_position() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        return cursor.fetchone()[0]


def wal_since(position: str) -> int:
    """Bytes of WAL written (by everyone on the server) since ``position``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", [position]
        )
        return int(cursor.fetchone()[0])


def settle_rolled_back(*, business_date, merchant_ids: list) -> dict:
    """``settle_merchants`` for these merchants in one transaction, timed per statement; then
    ``SET CONSTRAINTS ALL IMMEDIATE`` runs the deferred checks a commit would run (foreign keys,
    the ledger's balance trigger), and the transaction rolls back."""
    timings: list[tuple[str, float]] = []
    wal = wal_position()
    with transaction.atomic():
        started = time.perf_counter()
        with statement_timer(timings):
            outcome = settlement.settle_merchants(
                business_date=business_date, merchant_ids=merchant_ids, run_id=None
            )
        checks = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        finished = time.perf_counter()
        timings.append(("deferred checks (as at commit)", finished - checks))
        transaction.set_rollback(True)
    return {
        "seconds": finished - started,
        "steps": timings,
        "statements": outcome.statements,
        "wal": wal_since(wal),
    }


_UUID_ARRAY = re.compile(r"'\{[0-9a-f,-]{100,}\}'")


def explain(*, business_date, merchant_ids: list, title: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each settlement statement for these merchants, rolled back."""
    params = {
        "d": business_date,
        "ids": [str(pk) for pk in merchant_ids],
        "run": None,
        "ns": settlement._LOCK_NAMESPACE,
    }
    print(f"\n--- EXPLAIN ANALYZE, {title} ({len(merchant_ids):,} merchants) ---")
    with transaction.atomic(), connection.cursor() as cursor:
        steps = [
            ("advisory locks", settlement._LOCK_SQL),
            ("statements", settlement._STATEMENTS_SQL),
            ("mark", settlement._MARK_SQL),
            ("lines", settlement._LINES_SQL),
            ("totals", settlement._TOTALS_SQL),
        ]
        for label, sql in steps:
            if label == "mark":
                cursor.execute(
                    "SELECT id FROM installments_statement WHERE business_date = %(d)s"
                    " AND merchant_id = ANY(%(ids)s::uuid[])",
                    params,
                )
                params["new"] = [str(row[0]) for row in cursor.fetchall()]
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            print(f"[{label}]")
            for (line,) in cursor.fetchall():
                print("   ", _UUID_ARRAY.sub("'{…}'", line))
        started = time.perf_counter()
        ledger.ledger_post_statement_settlements(statement_ids=params["new"])
        posted = time.perf_counter()
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        print(f"[settlement postings] {posted - started:.3f} s")
        print(f"[deferred checks (as at commit)] {time.perf_counter() - posted:.3f} s")
        transaction.set_rollback(True)
    vacuum()


# --- runs through Celery workers ----------------------------------------------------------------


def database_url() -> str:
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}{password}@{host}{port}/{db['NAME']}"


class Workers:
    """``count`` real ``celery -A config worker -Q settlement -P solo`` processes on the broker."""

    def __init__(self, count: int, broker: str, log_dir: Path) -> None:
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker,
        }
        for n in range(1, count + 1):
            log = log_dir / f"worker-{count}-{n}.log"
            self.logs.append(log)
            with log.open("w") as out:
                self.processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "celery",
                            "-A",
                            "config",
                            "worker",
                            "-Q",
                            "settlement",
                            "-P",
                            "solo",
                            "-n",
                            f"bench{count}-{n}@%h",
                            "--without-heartbeat",
                            "--without-mingle",
                            "--without-gossip",
                            "--loglevel=INFO",
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
        deadline = time.monotonic() + 60
        while not all(" ready." in log.read_text() for log in self.logs):
            if any(p.poll() is not None for p in self.processes) or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"a worker did not start: see {log_dir}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_through_workers(*, business_date, batch_size: int | None) -> dict:
    """Start a run (batches enqueued after commit) and poll its row until the workers finish it."""
    from installments.settlement_models import SettlementRun

    load_before = os.getloadavg()[0]
    wal = wal_position()
    called = time.perf_counter()
    run = settlement.settlement_run_for_date(
        business_date=business_date, requested_by="bench", batch_size=batch_size
    )
    created = time.perf_counter() - called
    deadline = time.monotonic() + 3600
    waits: Counter[str] = Counter()
    while True:
        run.refresh_from_db()
        if run.status != SettlementRun.Status.RUNNING:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run.pk} still running after an hour")
        waits.update(_sample_waits())
        time.sleep(0.25)
    batches = list(run.batches.values_list("started_at", "finished_at", "attempts"))
    spans = [(f - s).total_seconds() for s, f, _ in batches if s and f]
    return {
        "run": run,
        "seconds": (run.finished_at - run.started_at).total_seconds(),
        "created": created,
        "batches": len(batches),
        "batch_size": batch_size or settings.SETTLEMENT_BATCH_SIZE,
        "batch_median": statistics.median(spans) if spans else 0.0,
        "batch_max": max(spans, default=0.0),
        "retries": sum(max(0, attempts - 1) for _, _, attempts in batches),
        "wal": wal_since(wal),
        "load": (load_before, os.getloadavg()[0]),
        "waits": waits,
    }


def _sample_waits() -> list[str]:
    """What the other sessions on this database are doing now: the statement they run, and the
    event they wait for (none: on CPU)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), query
              FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND backend_type = 'client backend' AND state = 'active'
            """
        )
        return [f"{wait} in {_statement_kind(query)}" for wait, query in cursor.fetchall()]


def _statement_kind(sql: str) -> str:
    text = " ".join(sql.split())
    for statement, name in _NAMES.items():
        if text.startswith(" ".join(statement.split("%(")[0].split())):
            return name
    words = sql.split()
    if words[:1] == ["COMMIT"]:
        return "COMMIT (deferred checks)"
    return " ".join(words[:4])[:40]


def verify(*, business_date, merchants: int, loaded: dict) -> tuple[list[str], float]:
    """What a run must leave: one statement dated D per merchant; every event marked, each in
    exactly one statement (its one ``statement_id``) of its own merchant, the benchmark's events
    in D's statements and counted in their totals, the late ones as adjustments; one settlement
    entry per statement; and ``reconcile()`` ok."""
    from installments.reconcile import reconcile

    problems = []
    events = loaded["charges"] + loaded["reversals"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(DISTINCT merchant_id), coalesce(sum(plans_charged), 0),
                   count(settlement_entry_id)
              FROM installments_statement WHERE business_date = %s
            """,
            [business_date],
        )
        statements, settled_merchants, plans_charged, entries = cursor.fetchone()
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE e.statement_id IS NULL),
                   count(*) FILTER (WHERE s.merchant_id <> e.merchant_id),
                   count(*) FILTER (WHERE s.business_date = %s),
                   count(*) FILTER (WHERE s.business_date = %s AND e.kind = 'charge')
              FROM installments_ledgerentry e
              LEFT JOIN installments_statement s ON s.id = e.statement_id
             WHERE e.kind <> 'settlement'
            """,
            [business_date, business_date],
        )
        unmarked, foreign, in_d, charges_in_d = cursor.fetchone()
        cursor.execute(
            """
            SELECT coalesce(sum(l.plans_charged) FILTER (WHERE l.adjustment), 0)
              FROM installments_statementline l
              JOIN installments_statement s ON s.id = l.statement_id
             WHERE s.business_date = %s
            """,
            [business_date],
        )
        (adjusted,) = cursor.fetchone()
    if statements != merchants or settled_merchants != merchants:
        problems.append(f"{statements} statements for {settled_merchants} of {merchants} merchants")
    if unmarked or foreign or in_d != events:
        problems.append(
            f"{unmarked} events unmarked, {foreign} in another merchant's statement,"
            f" {in_d} of {events} in D's statements"
        )
    if plans_charged != charges_in_d or charges_in_d != loaded["charges"]:
        problems.append(f"D's statements count {plans_charged} charges, the ledger {charges_in_d}")
    if adjusted != loaded["late"]:
        problems.append(f"{adjusted} charges as adjustments, {loaded['late']} late")
    if entries != statements:
        problems.append(f"{entries} settlement entries for {statements} statements")
    started = time.perf_counter()
    report = reconcile()
    took = time.perf_counter() - started
    if not report.ok:
        problems.append(f"reconcile: {report.mismatches[:3]}")
    return problems, took


# --- main ---------------------------------------------------------------------------------------


def _server() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT split_part(version(), ' on ', 1), current_setting('shared_buffers'),"
            " current_setting('work_mem'), current_setting('max_wal_size'),"
            " current_setting('synchronous_commit')"
        )
        version, buffers, work_mem, max_wal, sync = cursor.fetchone()
    return (
        f"{version} (shared_buffers {buffers}, work_mem {work_mem}, max_wal_size {max_wal},"
        f" synchronous_commit {sync})"
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def _print_steps(steps: list[tuple[str, float]]) -> None:
    for name, seconds in steps:
        print(f"      {name:<36} {seconds:7.2f} s")


def main(args: argparse.Namespace) -> int:
    import redis
    from django.test.utils import get_runner, setup_test_environment

    from installments.reconcile import reconcile
    from installments.settlement_models import SettlementRun

    assert args.batch_size == settings.SETTLEMENT_BATCH_SIZE
    extra_sizes = [int(size) for size in args.also_batch_sizes.split(",") if size.strip()]
    broker = redis.Redis.from_url(args.broker)
    broker.flushdb()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-settlement-"))

    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    workers: Workers | None = None
    floors: list[float] = []
    results: dict[str, list[dict]] = {}
    failures: list[str] = []
    try:
        day = settlement.settlement_today() - timedelta(days=1)
        started = time.perf_counter()
        loaded = load(
            events=args.events,
            merchants=args.merchants,
            days=args.days,
            history=args.history,
            business_date=day,
        )
        load_seconds = time.perf_counter() - started
        report = reconcile()
        if not report.ok:
            raise RuntimeError(f"the loaded data do not reconcile: {report.mismatches[:3]}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM merchants_merchant ORDER BY id")
            merchant_ids = [row[0] for row in cursor.fetchall()]
        print(
            f"settlement of {day}: {args.events:,} events ({loaded['charges']:,} charges,"
            f" {loaded['reversals']:,} reversals; {loaded['late']:,} of the charges dated"
            f" {loaded['previous_day']}, after that night's statements) of {args.merchants:,}"
            f" merchants over {args.days} days; before them {loaded['history']:,} charges"
            f" settled the night of {loaded['previous_day']}; loaded in {load_seconds:.1f} s;"
            f" batch size {args.batch_size}; {os.cpu_count()} CPUs\n  {_server()}",
            flush=True,
        )

        if args.explain:
            explain(
                business_date=day, merchant_ids=merchant_ids[: args.batch_size], title="one batch"
            )
            explain(business_date=day, merchant_ids=merchant_ids, title="all merchants")

        probe = settle_rolled_back(business_date=day, merchant_ids=merchant_ids[: args.batch_size])
        vacuum()
        print(
            f"  one batch of {args.batch_size} merchants in this process, rolled back:"
            f" {probe['seconds']:.2f} s, WAL {_mb(probe['wal'])}",
            flush=True,
        )
        _print_steps(probe["steps"])

        plan = [("1 worker", 1, None), ("2 workers", 2, None)]
        plan += [(f"2 workers, batch {size}", 2, size) for size in extra_sizes]
        for repeat in range(args.repeat):
            load_before = os.getloadavg()[0]
            measured = settle_rolled_back(business_date=day, merchant_ids=merchant_ids)
            vacuum()
            floors.append(measured["seconds"])
            print(
                f"  floor (one transaction, all merchants, rolled back):"
                f" {measured['seconds']:7.2f} s  ({measured['statements']:,} statements;"
                f" WAL {_mb(measured['wal'])}; load average {load_before:.1f} →"
                f" {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            if repeat == 0:
                _print_steps(measured["steps"])
            for label, count, size in plan:
                if workers is None or len(workers.processes) != count:
                    if workers is not None:
                        workers.stop()
                    workers = Workers(count, args.broker, log_dir)
                result = run_through_workers(business_date=day, batch_size=size)
                run = result["run"]
                problems, reconcile_seconds = verify(
                    business_date=day, merchants=args.merchants, loaded=loaded
                )
                if (
                    run.status != SettlementRun.Status.COMPLETED
                    or run.merchants_done != args.merchants
                ):
                    problems.insert(0, f"run {run.status}, {run.merchants_done} merchants done")
                results.setdefault(label, []).append(result)
                failures += [f"{label}: {problem}" for problem in problems]
                print(
                    f"  {label:<51} {result['seconds']:7.2f} s  ("
                    f"{result['seconds'] / measured['seconds']:.2f}× floor;"
                    f" {result['batches']} batches of {result['batch_size']}, median"
                    f" {result['batch_median']:.2f} s, max {result['batch_max']:.2f} s;"
                    f" run created in {result['created']:.2f} s; retries {result['retries']};"
                    f" WAL {_mb(result['wal'])}; load average {result['load'][0]:.1f} →"
                    f" {result['load'][1]:.1f}; checks {'ok' if not problems else 'FAILED'},"
                    f" reconcile {reconcile_seconds:.0f} s)",
                    flush=True,
                )
                samples = sum(result["waits"].values()) or 1
                print(
                    "      sessions sampled: "
                    + "; ".join(
                        f"{what} {count / samples:.0%}"
                        for what, count in result["waits"].most_common(6)
                    )
                )
                for problem in problems:
                    print(f"      PROBLEM: {problem}")
                unsettle(day)
    finally:
        if workers is not None:
            workers.stop()
        broker.flushdb()
        runner.teardown_databases(old_config)

    floor_seconds = statistics.median(floors)
    one = statistics.median(result["seconds"] for result in results["1 worker"])
    two = statistics.median(result["seconds"] for result in results["2 workers"])
    ratio = two / floor_seconds
    which = f"median of {args.repeat}: " if args.repeat > 1 else ""
    print(
        f"  {which}floor {floor_seconds:.1f} s, 1 worker {one:.1f} s, 2 workers {two:.1f} s:"
        f" 2 workers / floor {ratio:.2f} (target ≤ {TARGET_RATIO:.0f}); slowest"
        f" {max(one, two):.1f} s (target < {TARGET_SECONDS:.0f} s); 2 workers / 1 worker"
        f" {two / one:.2f}"
    )
    ok = ratio <= TARGET_RATIO and max(one, two) < TARGET_SECONDS and not failures
    for failure in failures:
        print(f"  CHECK FAILED: {failure}")
    print("  targets met" if ok else "  TARGET MISSED")
    print(f"  worker logs: {log_dir}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main(ARGS))
