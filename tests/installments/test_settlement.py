"""Nightly settlement on PostgreSQL (DESIGN.md §7), run in-process (``settle``'s path). The real
Celery worker, two runs at once and a killed worker are in test_settlement_worker.py."""

import csv
import io
import subprocess
import sys
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from installments.ledger import ledger_balance
from installments.ledger_models import LedgerEntry
from installments.reconcile import reconcile
from installments.settlement import settlement_run_for_date, settlement_today
from installments.settlement_models import SettlementRun, Statement
from tests.factories import MerchantFactory
from tests.installments.settlement_helpers import (
    PHONE,
    PHONE_M,
    at,
    commit,
    live_campaign,
    refund,
    snapshot,
)

pytestmark = pytest.mark.django_db

D1 = date(2026, 11, 10)
D2 = D1 + timedelta(days=1)


def settle(day: date, merchant=None) -> SettlementRun:
    return settlement_run_for_date(
        business_date=day, merchant_id=merchant.pk if merchant else None, inline=True
    )


@pytest.fixture
def merchant():
    merchant = MerchantFactory()
    live_campaign(merchant, since=D1 - timedelta(days=5))
    return merchant


def test_a_normal_night(merchant):
    other = MerchantFactory()
    live_campaign(other, since=D1 - timedelta(days=5), name="Other's")
    a = commit(merchant, at(D1, 9))
    commit(merchant, at(D1, 23))  # 23:00 Shanghai is still D1
    refund(a, 199_900, at(D1, 15))
    commit(other, at(D1, 10))
    commit(
        merchant,
        at(
            D2,
            0,
        ),
    )  # D2: not in D1's statement

    run = settle(D1)

    assert run.status == "completed"
    assert (run.merchants_total, run.merchants_done, run.statements_created) == (2, 2, 2)
    statement = Statement.objects.get(merchant=merchant, business_date=D1)
    assert (statement.plans_charged, statement.charges, statement.reversals) == (
        2,
        2 * PHONE_M,
        14_993,
    )
    assert statement.net == 2 * PHONE_M - 14_993
    (line,) = statement.lines.all()
    assert (line.campaign_name, line.adjustment, line.net) == ("Phones free", False, statement.net)
    # The settlement entry moved the net from receivable to settled.
    assert statement.settlement_entry is not None
    assert ledger_balance(merchant_id=merchant.pk, kind="settled", currency="CNY") == statement.net
    assert ledger_balance(merchant_id=merchant.pk, kind="receivable", currency="CNY") == PHONE_M
    # D2's charge waits for D2's statement.
    unsettled = LedgerEntry.objects.filter(merchant=merchant, statement__isnull=True)
    assert [e.business_date for e in unsettled.exclude(kind="settlement")] == [D2]
    assert reconcile().ok


def test_a_rerun_changes_nothing(merchant):
    commit(merchant, at(D1))
    settle(D1)
    before = snapshot()
    rerun = settle(D1)
    assert rerun.statements_created == 0 and rerun.merchants_total == 0
    assert snapshot() == before


def test_a_merchant_already_settled_later_is_left_alone(merchant):
    commit(merchant, at(D1))
    settle(D2)  # D2's statement took D1's event too
    commit(merchant, at(D1, 20))  # recorded later on D1
    run = settle(D1)  # nothing to do: a statement dated D1 or later exists
    assert run.statements_created == 0
    assert Statement.objects.filter(merchant=merchant).count() == 1


def test_a_late_refund_becomes_the_next_statements_adjustment(merchant):
    plan = commit(merchant, at(D1, 9))
    settle(D1)
    refund(plan, 100_000, at(D1, 22))  # after the run, still dated D1
    commit(merchant, at(D2))
    settle(D2)
    statement = Statement.objects.get(merchant=merchant, business_date=D2)
    lines = {line.adjustment: line for line in statement.lines.all()}
    assert lines[True].reversals == PHONE_M - 37_493 and lines[True].charges == 0
    assert lines[False].charges == PHONE_M and lines[False].plans_charged == 1
    assert statement.net == PHONE_M - (PHONE_M - 37_493)


def test_a_merchant_with_only_refunds_has_a_negative_net(merchant):
    plan = commit(merchant, at(D1))
    settle(D1)
    refund(plan, PHONE, at(D2))
    settle(D2)
    statement = Statement.objects.get(merchant=merchant, business_date=D2)
    assert (statement.charges, statement.reversals, statement.net) == (0, PHONE_M, -PHONE_M)
    postings = {p.account.kind: p.amount for p in statement.settlement_entry.postings.all()}
    assert postings == {"settled": -PHONE_M, "receivable": PHONE_M}
    assert ledger_balance(merchant_id=merchant.pk, kind="receivable", currency="CNY") == 0


def test_a_voided_plan_is_charged_and_reversed_in_one_statement(merchant):
    from installments.plans import plan_void

    plan = commit(merchant, at(D1, 9))
    plan_void(merchant=merchant, test=False, plan_id=plan.pk, now=at(D1, 10))
    settle(D1)
    statement = Statement.objects.get(merchant=merchant)
    assert (statement.plans_charged, statement.charges, statement.reversals, statement.net) == (
        1,
        PHONE_M,
        PHONE_M,
        0,
    )
    assert statement.settlement_entry is None  # a zero net posts nothing


def test_settling_today_then_again_the_next_day(merchant):
    today = settlement_today()
    live_campaign(merchant, since=today - timedelta(days=1), name="Today")
    commit(merchant, at(today - timedelta(days=1)))
    first = settle(today)
    assert first.statements_created == 1
    # What arrives later "today" waits for the next statement, as an adjustment.
    commit(merchant, at(today - timedelta(days=1), 23))
    assert settle(today).statements_created == 0
    with pytest.raises(Exception, match="future"):
        settle(today + timedelta(days=1))
    assert reconcile().ok


def test_one_merchant_only(merchant):
    other = MerchantFactory()
    live_campaign(other, since=D1 - timedelta(days=5))
    commit(merchant, at(D1))
    commit(other, at(D1))
    run = settle(D1, merchant=other)
    assert run.merchants_total == 1
    assert list(Statement.objects.values_list("merchant_id", flat=True)) == [other.pk]


def test_settle_command_prints_the_summary_and_refuses_bad_dates(merchant, capsys):
    commit(merchant, at(D1))
    call_command("settle", "--date", D1.isoformat())
    out = capsys.readouterr().out
    assert '"statements": 1' in out and '"status": "completed"' in out
    with pytest.raises(CommandError, match="future"):
        call_command("settle", "--date", (settlement_today() + timedelta(days=1)).isoformat())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("settle", "--date", "11/10/2026")
    with pytest.raises(CommandError, match="not_found"):
        call_command("settle", "--date", D1.isoformat(), "--merchant", "nope")


def test_statement_csv_and_api(merchant, api_client_for):
    commit(merchant, at(D1))
    settle(D1)
    statement = Statement.objects.get(merchant=merchant)
    client = api_client_for(merchant)
    listed = client.get("/api/v1/settlements").json()["results"]
    assert [s["id"] for s in listed] == [str(statement.pk)]
    detail = client.get(f"/api/v1/settlements/{statement.pk}").json()
    assert detail["net"] == PHONE_M and detail["lines"][0]["campaign_name"] == "Phones free"
    response = client.get(f"/api/v1/settlements/{statement.pk}", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
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
    ]
    assert rows[1][3:8] == ["Phones free", "1", str(PHONE_M), "0", str(PHONE_M)]
    assert rows[-1][2:4] == ["", "TOTAL"] and rows[-1][7] == str(PHONE_M)
    # Another merchant's statement is not found; a test key sees no statements.
    stranger = api_client_for(MerchantFactory())
    assert stranger.get(f"/api/v1/settlements/{statement.pk}").status_code == 404
    assert api_client_for(merchant, mode="test").get("/api/v1/settlements").json()["results"] == []
    assert client.get(f"/api/v1/settlements/{statement.pk}", {"format": "xml"}).status_code == 400


def test_the_ledger_refuses_moving_a_settled_event(merchant):
    from django.db import DatabaseError, transaction

    commit(merchant, at(D1))
    settle(D1)
    commit(merchant, at(D2))
    settle(D2)
    event = LedgerEntry.objects.filter(merchant=merchant, kind="charge").first()
    other_statement = Statement.objects.exclude(pk=event.statement_id).get()
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=event.pk).update(statement=other_statement)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=event.pk).update(statement=None)


@pytest.mark.no_reconcile
def test_reconcile_fails_when_a_posting_is_tampered_with(merchant):
    commit(merchant, at(D1))
    settle(D1)
    assert reconcile().ok
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events before ALTER
        cursor.execute("ALTER TABLE installments_ledgerposting DISABLE TRIGGER USER")
        try:
            cursor.execute(
                """
                UPDATE installments_ledgerposting SET amount = amount + 1
                 WHERE id = (SELECT p.id FROM installments_ledgerposting p
                               JOIN installments_ledgerentry e ON e.id = p.entry_id
                              WHERE e.kind = 'charge' AND p.amount > 0 LIMIT 1)
                """
            )
        finally:
            cursor.execute("ALTER TABLE installments_ledgerposting ENABLE TRIGGER USER")
    report = reconcile()
    assert not report.ok
    failed = {m["check"] for m in report.mismatches}
    assert {"entries_balanced", "statement_totals", "plan_subsidy_ledger"} <= failed


def test_settle_command_runs_as_a_process():
    proc = subprocess.run(
        [sys.executable, "manage.py", "settle", "--date", "2999-01-01"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    assert proc.returncode == 1
    assert "future" in proc.stderr and proc.stdout == ""


def test_statements_are_balanced_against_plans(merchant):
    plans = [commit(merchant, at(D1, h)) for h in (8, 9, 10)]
    refund(plans[0], PHONE, at(D1, 11))
    settle(D1)
    statement = Statement.objects.get(merchant=merchant)
    assert statement.plans_charged == 3
    assert statement.net == sum(p.merchant_subsidy for p in plans[1:])
    assert statement.net == PHONE_M * 2
    assert plans[0].financed_amount == PHONE


def test_a_plan_whose_charge_is_settled_cannot_be_voided_even_within_24_hours(merchant):
    from installments.plans import plan_void
    from merchants.errors import DomainError

    plan = commit(merchant, at(D1, 23))
    settle(D1)  # the 02:00 run of D2 took it
    with pytest.raises(DomainError) as refused:
        plan_void(merchant=merchant, test=False, plan_id=plan.pk, now=at(D2, 3))
    assert refused.value.code == "plan_not_voidable"
    # A refund still gives the consumer's money back; its reversal goes to the next statement.
    refund(plan, PHONE, at(D2, 4))
    settle(D2)
    assert Statement.objects.get(merchant=merchant, business_date=D2).net == -PHONE_M


def test_an_unsettled_plan_can_be_voided_the_next_morning(merchant):
    from installments.plans import plan_void

    plan = commit(merchant, at(D1, 23))
    voided = plan_void(merchant=merchant, test=False, plan_id=plan.pk, now=at(D2, 3))
    assert voided.status == "voided"
