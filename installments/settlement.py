"""Nightly settlement (DESIGN.md §7).

A run settles business date D: it lists the merchants with unsettled events dated D or earlier (in id
order), splits them into batches, and settles each batch in one transaction of set-based SQL:

1. take a transaction-scoped advisory lock per merchant (in id order, so two runs never deadlock);
2. create one statement ``(merchant, D, currency)`` for each merchant that has unsettled events and
   no statement dated D or later (``INSERT … SELECT … GROUP BY``);
3. mark those events with their statement (``UPDATE … FROM``), then build the lines per campaign and
   adjustment flag from exactly the marked events, so an event committed meanwhile is either in
   both or in neither;
4. total the statements and post one settlement ledger entry per non-zero net.

A crash rolls a batch back whole; re-running the date, or two runs at once, leave what one run
leaves (the lock, the "statement dated D or later" rule and ``statement_unique``). Progress lives in
``SettlementRun``/``SettlementBatch`` rows, not in a result backend."""

from __future__ import annotations

import csv
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.http import HttpResponse
from django.utils import timezone

from installments.ledger import business_date_of, ledger_post_statement_settlements
from installments.settlement_models import SettlementBatch, SettlementRun, Statement
from merchants.errors import DomainError

logger = logging.getLogger(__name__)

# A batch still "running" this long after it started lost its worker: the sweep re-enqueues it.
STALE_BATCH_AFTER = timedelta(minutes=15)
# The advisory-lock namespace of settlement (first key of the pair; the second is the merchant's).
SETTLEMENT_LOCK_NAMESPACE = 0x5E771E
_LOCK_NAMESPACE = SETTLEMENT_LOCK_NAMESPACE

_UNSETTLED_MERCHANTS_SQL = """
SELECT DISTINCT e.merchant_id FROM installments_ledgerentry e
 WHERE e.statement_id IS NULL AND e.kind <> 'settlement' AND e.business_date <= %(d)s
   AND (%(merchant)s::uuid IS NULL OR e.merchant_id = %(merchant)s::uuid)
 ORDER BY e.merchant_id
"""

_LOCK_SQL = """
SELECT pg_advisory_xact_lock(%(ns)s, hashtext(m::text))
  FROM unnest(%(ids)s::uuid[]) AS m ORDER BY m
"""

_STATEMENTS_SQL = """
INSERT INTO installments_statement
       (id, merchant_id, business_date, currency, plans_charged, charges, reversals, net, run_id,
        created_at)
SELECT gen_random_uuid(), u.merchant_id, %(d)s, u.currency, 0, 0, 0, 0, %(run)s, now()
  FROM (SELECT DISTINCT e.merchant_id, e.currency FROM installments_ledgerentry e
         WHERE e.merchant_id = ANY(%(ids)s::uuid[]) AND e.statement_id IS NULL
           AND e.kind <> 'settlement' AND e.business_date <= %(d)s) u
 WHERE NOT EXISTS (SELECT 1 FROM installments_statement s
                    WHERE s.merchant_id = u.merchant_id AND s.business_date >= %(d)s)
RETURNING id
"""

_MARK_SQL = """
UPDATE installments_ledgerentry e SET statement_id = s.id
  FROM installments_statement s
 WHERE s.id = ANY(%(new)s::uuid[]) AND e.merchant_id = s.merchant_id AND e.currency = s.currency
   AND e.statement_id IS NULL AND e.kind <> 'settlement' AND e.business_date <= %(d)s
"""

# Charges debit the receivable (+M), reversals credit it (−x): their receivable legs are the amounts.
_LINES_SQL = """
WITH previous AS (
    SELECT merchant_id, max(business_date) AS business_date FROM installments_statement
     WHERE merchant_id = ANY(%(ids)s::uuid[]) AND business_date < %(d)s
     GROUP BY merchant_id
)
INSERT INTO installments_statementline
       (statement_id, merchant_id, campaign_id, campaign_name, adjustment, plans_charged, charges,
        reversals, net)
SELECT e.statement_id, e.merchant_id, e.campaign_id, c.name,
       COALESCE(e.business_date <= previous.business_date, false) AS adjustment,
       COUNT(*) FILTER (WHERE e.kind = 'charge'),
       COALESCE(SUM(p.amount) FILTER (WHERE e.kind = 'charge'), 0),
       COALESCE(-SUM(p.amount) FILTER (WHERE e.kind = 'reversal'), 0),
       SUM(p.amount)
  FROM installments_ledgerentry e
  JOIN installments_ledgerposting p ON p.entry_id = e.id
  JOIN installments_ledgeraccount a ON a.id = p.account_id AND a.kind = 'receivable'
  JOIN campaigns_campaign c ON c.id = e.campaign_id
  LEFT JOIN previous ON previous.merchant_id = e.merchant_id
 WHERE e.statement_id = ANY(%(new)s::uuid[]) AND e.kind <> 'settlement'
 GROUP BY e.statement_id, e.merchant_id, e.campaign_id, c.name, 5
"""

_TOTALS_SQL = """
UPDATE installments_statement s
   SET plans_charged = l.plans_charged, charges = l.charges, reversals = l.reversals, net = l.net
  FROM (SELECT statement_id, SUM(plans_charged) AS plans_charged, SUM(charges) AS charges,
               SUM(reversals) AS reversals, SUM(net) AS net
          FROM installments_statementline WHERE statement_id = ANY(%(new)s::uuid[])
         GROUP BY statement_id) l
 WHERE s.id = l.statement_id
RETURNING s.charges, s.reversals, s.net
"""


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    statements: int
    charges: int
    reversals: int
    net: int


def settle_merchants(
    *, business_date: date, merchant_ids: list[uuid.UUID], run_id: int | None
) -> BatchOutcome:
    """Settle ``business_date`` for these merchants in the caller's transaction (set-based)."""
    params = {
        "d": business_date,
        "ids": [str(pk) for pk in merchant_ids],
        "run": run_id,
        "ns": _LOCK_NAMESPACE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, params)
        cursor.execute(_STATEMENTS_SQL, params)
        new = [str(row[0]) for row in cursor.fetchall()]
        if not new:
            return BatchOutcome(0, 0, 0, 0)
        params["new"] = new
        cursor.execute(_MARK_SQL, params)
        cursor.execute(_LINES_SQL, params)
        cursor.execute(_TOTALS_SQL, params)
        totals = cursor.fetchall()
    ledger_post_statement_settlements(statement_ids=new)
    return BatchOutcome(
        statements=len(new),
        charges=sum(row[0] for row in totals),
        reversals=sum(row[1] for row in totals),
        net=sum(row[2] for row in totals),
    )


def settlement_today() -> date:
    """Today's business date (Asia/Shanghai)."""
    return business_date_of(timezone.now())


def settlement_run_for_date(
    *,
    business_date: date,
    merchant_id: uuid.UUID | None = None,
    requested_by: str = "",
    inline: bool = False,
    batch_size: int | None = None,
) -> SettlementRun:
    """Start a run settling ``business_date`` (any date up to today; the future is refused), for
    every merchant or one. Its batches go to the ``settlement`` queue after commit; ``inline`` runs
    them here instead (the ``settle`` command)."""
    if business_date > settlement_today():
        raise DomainError.validation("date", "A date in the future cannot be settled.")
    batch_size = batch_size or settings.SETTLEMENT_BATCH_SIZE
    with transaction.atomic():
        run = SettlementRun.objects.create(
            business_date=business_date, merchant_id=merchant_id, requested_by=requested_by
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _UNSETTLED_MERCHANTS_SQL,
                {"d": business_date, "merchant": str(merchant_id) if merchant_id else None},
            )
            merchants = [str(row[0]) for row in cursor.fetchall()]
        batches = SettlementBatch.objects.bulk_create(
            SettlementBatch(run=run, position=i, merchant_ids=merchants[start : start + batch_size])
            for i, start in enumerate(range(0, len(merchants), batch_size))
        )
        run.merchants_total = len(merchants)
        run.save(update_fields=["merchants_total"])
        if not batches:
            _finish(run.pk)
        elif not inline:
            ids = [batch.pk for batch in batches]
            transaction.on_commit(lambda: _enqueue(ids))
    if inline:
        for batch in batches:
            settlement_batch_settle(batch_id=batch.pk)
    run.refresh_from_db()
    return run


def _enqueue(batch_ids: list[int]) -> None:
    from installments.tasks import settle_batch_task

    for batch_id in batch_ids:
        try:
            settle_batch_task.delay(batch_id)
        except Exception:
            # The broker is down. The run and its batches are committed: the sweep (every five
            # minutes, on beat) enqueues batches that no worker has started.
            logger.exception("could not enqueue settlement batch %s; the sweep will", batch_id)
            return


def settlement_batch_settle(*, batch_id: int) -> bool:
    """Settle one batch (idempotent: a batch already done does nothing). Returns True when this
    call settled it. A failure leaves the batch pending with its error, for the retry."""
    claimed = SettlementBatch.objects.filter(
        pk=batch_id, status__in=[SettlementBatch.Status.PENDING, SettlementBatch.Status.RUNNING]
    ).update(
        status=SettlementBatch.Status.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now()
    )
    if not claimed:
        return False
    batch = SettlementBatch.objects.select_related("run").get(pk=batch_id)
    try:
        with transaction.atomic():
            outcome = settle_merchants(
                business_date=batch.run.business_date,
                merchant_ids=[uuid.UUID(pk) for pk in batch.merchant_ids],
                run_id=batch.run_id,
            )
            done = SettlementBatch.objects.filter(
                pk=batch_id, status=SettlementBatch.Status.RUNNING
            ).update(
                status=SettlementBatch.Status.DONE,
                statements_created=outcome.statements,
                finished_at=timezone.now(),
                error="",
            )
            if not done:  # another worker finished it first: give way, change nothing
                transaction.set_rollback(True)
                return False
            SettlementRun.objects.filter(pk=batch.run_id).update(
                merchants_done=F("merchants_done") + len(batch.merchant_ids),
                statements_created=F("statements_created") + outcome.statements,
                charges=F("charges") + outcome.charges,
                reversals=F("reversals") + outcome.reversals,
                net=F("net") + outcome.net,
            )
    except Exception as exc:
        SettlementBatch.objects.filter(pk=batch_id, status=SettlementBatch.Status.RUNNING).update(
            status=SettlementBatch.Status.PENDING, error=repr(exc)[:2000]
        )
        raise
    _finish(batch.run_id)
    return True


def settlement_batch_failed(*, batch_id: int, error: str) -> None:
    """Give up on a batch after its last retry: its merchants count as failed in the run."""
    with transaction.atomic():
        batch = SettlementBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == SettlementBatch.Status.DONE:
            return
        batch.status = SettlementBatch.Status.FAILED
        batch.error = error[:2000]
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "error", "finished_at"])
        SettlementRun.objects.filter(pk=batch.run_id).update(
            merchants_failed=F("merchants_failed") + len(batch.merchant_ids)
        )
    _finish(batch.run_id)


def _finish(run_id: int) -> None:
    """Close the run once no batch is pending or running (completed, or with failures).

    ``clock_timestamp()``, not ``now()``: ``now()`` is when the transaction began, which for a
    run closed in the transaction that made it is before its ``started_at``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE installments_settlementrun r
               SET status = CASE WHEN r.merchants_failed > 0 THEN 'failed' ELSE 'completed' END,
                   finished_at = clock_timestamp()
             WHERE r.id = %s AND r.status = 'running'
               AND NOT EXISTS (SELECT 1 FROM installments_settlementbatch b
                                WHERE b.run_id = r.id AND b.status IN ('pending', 'running'))
            """,
            [run_id],
        )


def settlement_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue batches whose worker was lost (running too long, or never picked up)."""
    now = now or timezone.now()
    stale = list(
        SettlementBatch.objects.filter(
            status__in=[SettlementBatch.Status.PENDING, SettlementBatch.Status.RUNNING],
            run__status=SettlementRun.Status.RUNNING,
            run__started_at__lte=now - STALE_BATCH_AFTER,
        )
        .exclude(started_at__gt=now - STALE_BATCH_AFTER)
        .values_list("pk", flat=True)
    )
    if stale:
        _enqueue(stale)
    return len(stale)


def settlement_run_totals(*, run: SettlementRun) -> list[dict]:
    """A run's statements totalled per currency (a run for every merchant settles several; its own
    ``charges``/``reversals``/``net`` counters add them together and are progress, not money)."""
    return list(
        Statement.objects.filter(run=run)
        .values("currency")
        .annotate(
            statements=Count("id"),
            charges=Sum("charges"),
            reversals=Sum("reversals"),
            net=Sum("net"),
        )
        .order_by("currency")
    )


def statement_list(*, merchant_id: uuid.UUID):
    return Statement.objects.filter(merchant_id=merchant_id).order_by("-business_date", "-id")


STATEMENT_CSV_COLUMNS = (
    "business_date",
    "merchant_id",
    "campaign_id",
    "campaign_name",
    "plans_charged",
    "charges",
    "reversals",
    "net",
    "currency",
    "adjustment",
)


def statement_csv_response(statement: Statement) -> HttpResponse:
    """The statement as a CSV download (UTF-8, with the §7 columns)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="statement-{statement.business_date}-{statement.merchant_id}.csv"'
    )
    csv.writer(response).writerows(statement_csv_rows(statement))
    return response


def statement_csv_rows(statement: Statement) -> list[list[object]]:
    """The CSV of §7: one row per campaign and adjustment flag, then the TOTAL row."""
    rows: list[list[object]] = [list(STATEMENT_CSV_COLUMNS)]
    day, merchant = statement.business_date.isoformat(), str(statement.merchant_id)
    for line in statement.lines.order_by("adjustment", "campaign_name", "campaign_id"):
        rows.append(
            [
                day,
                merchant,
                str(line.campaign_id),
                line.campaign_name,
                line.plans_charged,
                line.charges,
                line.reversals,
                line.net,
                statement.currency,
                "true" if line.adjustment else "false",
            ]
        )
    rows.append(
        [
            day,
            merchant,
            "",
            "TOTAL",
            statement.plans_charged,
            statement.charges,
            statement.reversals,
            statement.net,
            statement.currency,
            "",
        ]
    )
    return rows
