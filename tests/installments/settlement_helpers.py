"""Shared by the settlement tests: plans committed and refunded at chosen moments, so their events
land on chosen business dates (Asia/Shanghai), and a snapshot of what settlement made."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaigns.matching import Basket
from installments.ledger_models import LedgerEntry
from installments.plan_models import Plan
from installments.plans import plan_commit, plan_refund
from installments.quotes import quote_create
from installments.settlement_models import Statement, StatementLine
from tests.factories import CampaignFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE, PHONE_M = 599_900, 44_993


def at(day: date, hour: int = 12) -> datetime:
    """Noon (or ``hour``) in Shanghai on ``day``: an event recorded then has that business date."""
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def live_campaign(merchant, *, since: date, name: str = "Phones free", budget: int = 10**9):
    return CampaignFactory(
        merchant=merchant,
        name=name,
        status="approved",
        starts_at=at(since, 0) - timedelta(days=1),
        ends_at=at(since, 0) + timedelta(days=120),
        budget_total=budget,
    )


def commit(merchant, moment: datetime, *, amount: int = PHONE, term: int = 12) -> Plan:
    quote = quote_create(
        merchant=merchant, test=False, currency="CNY", basket=Basket(amount=amount), now=moment
    )
    return plan_commit(
        merchant=merchant,
        test=False,
        quote_id=quote.quote_id,
        term=term,
        merchant_order_ref=f"order-{uuid.uuid4()}",
        now=moment,
    )


def refund(plan: Plan, amount: int, moment: datetime):
    return plan_refund(
        merchant=plan.merchant,
        test=False,
        plan_id=plan.pk,
        amount=amount,
        refund_ref=f"refund-{uuid.uuid4()}",
        now=moment,
    )


def snapshot() -> dict:
    """Everything settlement writes, in a comparable form (ids of statements left out)."""
    statements = sorted(
        (
            str(s.merchant_id),
            s.business_date,
            s.currency,
            s.plans_charged,
            s.charges,
            s.reversals,
            s.net,
        )
        for s in Statement.objects.all()
    )
    lines = sorted(
        (
            str(line.merchant_id),
            line.statement.business_date,
            str(line.campaign_id),
            line.adjustment,
            line.plans_charged,
            line.charges,
            line.reversals,
            line.net,
        )
        for line in StatementLine.objects.select_related("statement")
    )
    marked = sorted(
        (str(e.pk), e.statement.business_date if e.statement else None)
        for e in LedgerEntry.objects.exclude(kind="settlement").select_related("statement")
    )
    settlements = LedgerEntry.objects.filter(kind="settlement").count()
    return {"statements": statements, "lines": lines, "marked": marked, "settlements": settlements}
