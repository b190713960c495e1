"""Reconciliation (DESIGN.md §5 and §7): the books must agree with themselves.

Each check is one set-based query that returns the rows that disagree, so a clean run costs a few
aggregate scans whatever the volume, and a dirty one says exactly which merchant, campaign, day or
entry is off and by how much. Operators run it from the admin or ``manage.py reconcile``; the test
suite runs it after every scenario."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

# Σ of a campaign's receivable postings over its charges and reversals: charges debit the
# receivable (+M), reversals credit it (−x), so this is Σ charges − Σ reversals (§5).
_LEDGER_NET_BY_CAMPAIGN_DAY = """
    SELECT e.merchant_id, e.campaign_id, e.charge_day, SUM(p.amount) AS net
      FROM installments_ledgerentry e
      JOIN installments_ledgerposting p ON p.entry_id = e.id
      JOIN installments_ledgeraccount a ON a.id = p.account_id AND a.kind = 'receivable'
     WHERE e.kind IN ('charge', 'reversal') {merchant_filter}
     GROUP BY e.merchant_id, e.campaign_id, e.charge_day
"""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    description: str
    sql: str


CHECKS: list[Check] = [
    Check(
        "entries_balanced",
        "Every ledger entry's postings sum to zero per currency, it has at least two legs, and "
        "every leg is on an account of the entry's merchant.",
        """
        SELECT e.merchant_id, e.id AS entry_id, p.currency, SUM(p.amount) AS sum,
               COUNT(*) AS legs, BOOL_AND(a.merchant_id = e.merchant_id
                                          AND p.merchant_id = e.merchant_id) AS same_merchant
          FROM installments_ledgerentry e
          JOIN installments_ledgerposting p ON p.entry_id = e.id
          JOIN installments_ledgeraccount a ON a.id = p.account_id
         WHERE TRUE {merchant_filter}
         GROUP BY e.merchant_id, e.id, p.currency
        HAVING SUM(p.amount) <> 0 OR COUNT(*) < 2
            OR NOT BOOL_AND(a.merchant_id = e.merchant_id AND p.merchant_id = e.merchant_id)
        """,
    ),
    Check(
        "campaign_budget_used",
        "Each campaign's budget used equals Σ charges − Σ reversals in the ledger.",
        """
        WITH ledger AS ("""
        + _LEDGER_NET_BY_CAMPAIGN_DAY
        + """)
        SELECT c.merchant_id, c.id AS campaign_id, c.budget_used,
               COALESCE(SUM(l.net), 0) AS ledger_net
          FROM campaigns_campaign c
          LEFT JOIN ledger l ON l.campaign_id = c.id AND l.merchant_id = c.merchant_id
         WHERE TRUE {campaign_filter}
         GROUP BY c.merchant_id, c.id, c.budget_used
        HAVING c.budget_used <> COALESCE(SUM(l.net), 0)
        """,
    ),
    Check(
        "campaign_daily_usage",
        "Each campaign's use of each day's cap equals the ledger's net for plans charged that day.",
        """
        WITH ledger AS ("""
        + _LEDGER_NET_BY_CAMPAIGN_DAY
        + """)
        SELECT COALESCE(u.merchant_id, l.merchant_id) AS merchant_id,
               COALESCE(u.campaign_id, l.campaign_id) AS campaign_id,
               COALESCE(u.day, l.charge_day) AS day,
               COALESCE(u.used, 0) AS used, COALESCE(l.net, 0) AS ledger_net
          FROM (SELECT * FROM campaigns_campaigndailyusage c WHERE TRUE {campaign_filter}) u
          FULL OUTER JOIN ledger l
            ON l.merchant_id = u.merchant_id AND l.campaign_id = u.campaign_id
           AND l.charge_day = u.day
         WHERE COALESCE(u.used, 0) <> COALESCE(l.net, 0)
        """,
    ),
    Check(
        "plan_subsidy_ledger",
        "Each live-mode plan's subsidy (0 once voided) equals its charges less its reversals in the "
        "ledger; test-mode plans and plans without a campaign have no ledger entries.",
        """
        WITH plan AS (
            SELECT p.merchant_id, p.id,
                   CASE WHEN p.test OR p.campaign_id IS NULL THEN 0
                        WHEN p.status = 'voided' THEN 0
                        ELSE p.merchant_subsidy END AS expected
              FROM installments_plan p WHERE TRUE {plan_filter}
        ), ledger AS (
            SELECT e.merchant_id, e.plan_id, SUM(p.amount) AS net
              FROM installments_ledgerentry e
              JOIN installments_ledgerposting p ON p.entry_id = e.id
              JOIN installments_ledgeraccount a ON a.id = p.account_id AND a.kind = 'receivable'
             WHERE e.kind IN ('charge', 'reversal') AND e.plan_id IS NOT NULL {merchant_filter}
             GROUP BY e.merchant_id, e.plan_id
        )
        SELECT COALESCE(plan.merchant_id, ledger.merchant_id) AS merchant_id,
               COALESCE(plan.id, ledger.plan_id) AS plan_id,
               plan.expected, COALESCE(ledger.net, 0) AS ledger_net
          FROM plan FULL OUTER JOIN ledger
            ON ledger.plan_id = plan.id AND ledger.merchant_id = plan.merchant_id
         WHERE plan.id IS NULL OR COALESCE(ledger.net, 0) <> plan.expected
        """,
    ),
    Check(
        "plan_refunds",
        "Each plan's refunded amount is the sum of its refunds.",
        """
        SELECT p.merchant_id, p.id AS plan_id, p.refunded_amount,
               COALESCE(SUM(r.amount), 0) AS refunds
          FROM installments_plan p
          LEFT JOIN installments_refund r ON r.plan_id = p.id AND r.merchant_id = p.merchant_id
         WHERE TRUE {plan_filter}
         GROUP BY p.merchant_id, p.id, p.refunded_amount
        HAVING p.refunded_amount <> COALESCE(SUM(r.amount), 0)
        """,
    ),
    Check(
        "plan_schedules",
        "Each plan's installments sum to its principal and its consumer fee (a voided plan has none).",
        """
        SELECT p.merchant_id, p.id AS plan_id, p.status, p.financed_amount, p.consumer_fee,
               COALESCE(SUM(i.principal), 0) AS principal_sum, COALESCE(SUM(i.fee), 0) AS fee_sum,
               COUNT(i.id) AS periods
          FROM installments_plan p
          LEFT JOIN installments_planinstallment i
            ON i.plan_id = p.id AND i.merchant_id = p.merchant_id
         WHERE TRUE {plan_filter}
         GROUP BY p.merchant_id, p.id, p.status, p.financed_amount, p.consumer_fee, p.term
        HAVING (p.status = 'voided' AND COUNT(i.id) > 0)
            OR (p.status = 'refunded' AND COUNT(i.id) > 0)
            OR (p.status = 'active' AND (COUNT(i.id) <> p.term
                OR COALESCE(SUM(i.principal), 0) <> p.financed_amount
                OR COALESCE(SUM(i.fee), 0) <> p.consumer_fee))
        """,
    ),
    Check(
        "statement_totals",
        "Each statement's totals are the sums of its lines, and its lines the sums of the events "
        "it settled (same merchant and currency, dated on or before it).",
        """
        WITH events AS (
            SELECT e.statement_id,
                   COUNT(*) FILTER (WHERE e.kind = 'charge') AS plans_charged,
                   COALESCE(SUM(p.amount) FILTER (WHERE e.kind = 'charge'), 0) AS charges,
                   COALESCE(-SUM(p.amount) FILTER (WHERE e.kind = 'reversal'), 0) AS reversals,
                   BOOL_AND(e.merchant_id = s.merchant_id AND e.currency = s.currency
                            AND e.business_date <= s.business_date) AS belongs
              FROM installments_ledgerentry e
              JOIN installments_statement s ON s.id = e.statement_id
              JOIN installments_ledgerposting p ON p.entry_id = e.id
              JOIN installments_ledgeraccount a ON a.id = p.account_id AND a.kind = 'receivable'
             WHERE e.kind <> 'settlement' {merchant_filter}
             GROUP BY e.statement_id
        ), lines AS (
            SELECT statement_id, SUM(plans_charged) AS plans_charged, SUM(charges) AS charges,
                   SUM(reversals) AS reversals
              FROM installments_statementline GROUP BY statement_id
        )
        SELECT s.merchant_id, s.id AS statement_id, s.business_date,
               s.plans_charged, s.charges, s.reversals,
               lines.plans_charged AS lines_plans_charged, lines.charges AS lines_charges,
               lines.reversals AS lines_reversals,
               events.plans_charged AS events_plans_charged, events.charges AS events_charges,
               events.reversals AS events_reversals, events.belongs
          FROM installments_statement s
          LEFT JOIN lines ON lines.statement_id = s.id
          LEFT JOIN events ON events.statement_id = s.id
         WHERE TRUE {statement_filter}
           AND (lines.statement_id IS NULL OR events.statement_id IS NULL
                OR NOT events.belongs
                OR (s.plans_charged, s.charges, s.reversals)
                   IS DISTINCT FROM (lines.plans_charged, lines.charges, lines.reversals)
                OR (s.plans_charged, s.charges, s.reversals)
                   IS DISTINCT FROM (events.plans_charged, events.charges, events.reversals))
        """,
    ),
    Check(
        "statement_settlements",
        "Each statement with a non-zero net has one settlement entry moving exactly that net from "
        "receivable to settled; a zero net has none.",
        """
        SELECT s.merchant_id, s.id AS statement_id, s.net, s.settlement_entry_id,
               SUM(p.amount) FILTER (WHERE a.kind = 'settled') AS settled_leg
          FROM installments_statement s
          LEFT JOIN installments_ledgerentry e
            ON e.statement_id = s.id AND e.kind = 'settlement'
          LEFT JOIN installments_ledgerposting p ON p.entry_id = e.id
          LEFT JOIN installments_ledgeraccount a ON a.id = p.account_id
         WHERE TRUE {statement_filter}
         GROUP BY s.merchant_id, s.id, s.net, s.settlement_entry_id
        HAVING COUNT(DISTINCT e.id) <> CASE WHEN s.net = 0 THEN 0 ELSE 1 END
            OR (s.net <> 0 AND (s.settlement_entry_id IS DISTINCT FROM MIN(e.id)
                                OR SUM(p.amount) FILTER (WHERE a.kind = 'settled') <> s.net))
        """,
    ),
    Check(
        "account_balances",
        "Per merchant and currency, the accounts sum to zero (a ledger that is balanced as a whole).",
        """
        SELECT p.merchant_id, p.currency, SUM(p.amount) AS sum
          FROM installments_ledgerposting p
          JOIN installments_ledgerentry e ON e.id = p.entry_id
         WHERE TRUE {merchant_filter}
         GROUP BY p.merchant_id, p.currency
        HAVING SUM(p.amount) <> 0
        """,
    ),
]


@dataclass(slots=True)
class ReconcileReport:
    ok: bool = True
    checks: list[str] = field(default_factory=list)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "mismatches": self.mismatches}


def _jsonable(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[union-attr]
    return value


def reconcile(*, merchant_id: uuid.UUID | None = None, limit: int = 100) -> ReconcileReport:
    """Run every check (for one merchant, or all); report at most ``limit`` mismatches per check."""
    report = ReconcileReport()
    params: dict[str, object] = {"merchant": merchant_id, "limit": limit}
    merchant_filter = "AND e.merchant_id = %(merchant)s" if merchant_id else ""
    campaign_filter = "AND c.merchant_id = %(merchant)s" if merchant_id else ""
    plan_filter = "AND p.merchant_id = %(merchant)s" if merchant_id else ""
    statement_filter = "AND s.merchant_id = %(merchant)s" if merchant_id else ""
    with connection.cursor() as cursor:
        for check in CHECKS:
            sql = check.sql.format(
                merchant_filter=merchant_filter,
                campaign_filter=campaign_filter,
                plan_filter=plan_filter,
                statement_filter=statement_filter,
            )
            cursor.execute(f"SELECT * FROM ({sql}) AS mismatch LIMIT %(limit)s", params)
            columns = [column.name for column in cursor.description]
            report.checks.append(check.name)
            for row in cursor.fetchall():
                report.ok = False
                found = {name: _jsonable(value) for name, value in zip(columns, row, strict=True)}
                report.mismatches.append({"check": check.name, **found})
    return report
