"""The only writer of the ledger (DESIGN.md §7). Callers post inside their own transaction, so a
plan, its budget reservation and its ledger charge commit or roll back together."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from installments.ledger_models import (
    AccountKind,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    LedgerPosting,
)


def business_date_of(moment: datetime) -> date:
    """The platform's business date of a moment: its date in Asia/Shanghai, whatever the merchant's
    time zone (§7)."""
    return timezone.localtime(moment, zoneinfo.ZoneInfo(settings.BUSINESS_TIME_ZONE)).date()


def ledger_account(*, merchant_id: uuid.UUID, kind: str, currency: str) -> LedgerAccount:
    """The merchant's account of this kind, created on first use (concurrent first uses agree)."""
    account = LedgerAccount.objects.filter(
        merchant_id=merchant_id, kind=kind, currency=currency
    ).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                merchant_id=merchant_id, kind=kind, currency=currency
            )
    except IntegrityError:
        return LedgerAccount.objects.get(merchant_id=merchant_id, kind=kind, currency=currency)


def _post(
    *,
    merchant_id: uuid.UUID,
    kind: str,
    currency: str,
    debit: str,
    credit: str,
    amount: int,
    recorded_at: datetime | None,
    **refs: object,
) -> LedgerEntry | None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"a ledger amount is a non-negative integer, not {amount!r}")
    if amount == 0:
        return None  # no posting is ever 0 (§7)
    entry = LedgerEntry.objects.create(
        merchant_id=merchant_id,
        kind=kind,
        currency=currency,
        business_date=business_date_of(recorded_at or timezone.now()),
        **refs,
    )
    LedgerPosting.objects.bulk_create(
        [
            LedgerPosting(
                entry=entry,
                merchant_id=merchant_id,
                account=ledger_account(merchant_id=merchant_id, kind=debit, currency=currency),
                amount=amount,
                currency=currency,
            ),
            LedgerPosting(
                entry=entry,
                merchant_id=merchant_id,
                account=ledger_account(merchant_id=merchant_id, kind=credit, currency=currency),
                amount=-amount,
                currency=currency,
            ),
        ]
    )
    return entry


# Which account each event debits and credits (§7); a reversal is the charge's legs swapped.
_EVENT_SIDES = {
    EntryKind.CHARGE: (AccountKind.RECEIVABLE, AccountKind.SUBSIDY_INCOME),
    EntryKind.REVERSAL: (AccountKind.SUBSIDY_INCOME, AccountKind.RECEIVABLE),
}


def _post_event(
    kind: str,
    *,
    merchant_id: uuid.UUID,
    currency: str,
    amount: int,
    campaign_id: uuid.UUID,
    plan_id: uuid.UUID | None,
    charge_day: date,
    recorded_at: datetime | None = None,
) -> LedgerEntry | None:
    debit, credit = _EVENT_SIDES[kind]
    return _post(
        merchant_id=merchant_id,
        kind=kind,
        currency=currency,
        debit=debit,
        credit=credit,
        amount=amount,
        recorded_at=recorded_at,
        campaign_id=campaign_id,
        plan_id=plan_id,
        charge_day=charge_day,
    )


def ledger_post_charge(**event: Any) -> LedgerEntry | None:
    """A plan's subsidy M: debit the merchant's receivable, credit the platform's subsidy income.

    Keywords: merchant_id, currency, amount, campaign_id, plan_id, charge_day, recorded_at."""
    return _post_event(EntryKind.CHARGE, **event)


def ledger_post_reversal(**event: Any) -> LedgerEntry | None:
    """Subsidy given back (a refund or a void): the charge's legs, swapped. Same keywords."""
    return _post_event(EntryKind.REVERSAL, **event)


def ledger_post_settlement(
    *, merchant_id: uuid.UUID, currency: str, net: int, business_date: date
) -> LedgerEntry | None:
    """Settle a statement's net N: debit settled, credit receivable (swapped when N < 0)."""
    debit, credit = AccountKind.SETTLED, AccountKind.RECEIVABLE
    if net < 0:
        debit, credit, net = credit, debit, -net
    entry = _post(
        merchant_id=merchant_id,
        kind=EntryKind.SETTLEMENT,
        currency=currency,
        debit=debit,
        credit=credit,
        amount=net,
        recorded_at=None,
    )
    return entry


def ledger_balance(*, merchant_id: uuid.UUID, kind: str, currency: str) -> int:
    """An account's balance: the sum of its postings (debits positive)."""
    total = LedgerPosting.objects.filter(
        merchant_id=merchant_id, account__kind=kind, currency=currency
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


_STATEMENT_SETTLEMENTS_SQL = """
WITH entry AS (
    INSERT INTO installments_ledgerentry
           (merchant_id, kind, currency, business_date, charge_day, campaign_id, plan_id,
            statement_id, memo, created_at)
    SELECT s.merchant_id, 'settlement', s.currency, s.business_date, NULL, NULL, NULL, s.id,
           'statement of ' || s.business_date, now()
      FROM installments_statement s
     WHERE s.id = ANY(%(ids)s::uuid[]) AND s.net <> 0
    RETURNING id, merchant_id, currency, statement_id
), leg AS (
    INSERT INTO installments_ledgerposting (entry_id, merchant_id, account_id, amount, currency)
    SELECT entry.id, entry.merchant_id, a.id,
           CASE WHEN a.kind = 'settled' THEN s.net ELSE -s.net END, entry.currency
      FROM entry
      JOIN installments_statement s ON s.id = entry.statement_id
      JOIN installments_ledgeraccount a
        ON a.merchant_id = entry.merchant_id AND a.currency = entry.currency
       AND a.kind IN ('settled', 'receivable')
    RETURNING entry_id
)
-- Data-modifying WITH queries always run to completion, read or not.
UPDATE installments_statement s SET settlement_entry_id = entry.id
  FROM entry
 WHERE s.id = entry.statement_id
"""


def ledger_post_statement_settlements(*, statement_ids: list[str]) -> None:
    """Post each statement's settlement (§7) set-based: debit settled and credit receivable by its
    net N (the legs swap when N < 0), dated the statement's business date; none when N = 0.

    In the caller's transaction; the balance trigger checks every entry at commit."""
    if not statement_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO installments_ledgeraccount (merchant_id, kind, currency)
            SELECT DISTINCT s.merchant_id, k.kind, s.currency
              FROM installments_statement s
             CROSS JOIN (VALUES ('receivable'), ('settled')) AS k(kind)
             WHERE s.id = ANY(%(ids)s::uuid[]) AND s.net <> 0
            ON CONFLICT (merchant_id, kind, currency) DO NOTHING
            """,
            {"ids": statement_ids},
        )
        cursor.execute(_STATEMENT_SETTLEMENTS_SQL, {"ids": statement_ids})
