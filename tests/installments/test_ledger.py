"""The ledger is balanced and append-only by PostgreSQL's own rules, not only Python's (DESIGN.md §7)."""

from datetime import date

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from installments.ledger import (
    ledger_account,
    ledger_balance,
    ledger_post_charge,
    ledger_post_reversal,
    ledger_post_settlement,
)
from installments.ledger_models import LedgerEntry, LedgerPosting
from tests.factories import CampaignFactory, MerchantFactory

DAY = date(2026, 11, 11)

# These post to the ledger's writer directly, beneath the budgets, so campaign budgets and the
# ledger disagree here by construction; the budget tests reconcile the two.
pytestmark = pytest.mark.no_reconcile


@pytest.fixture
def campaign(db):
    return CampaignFactory(status="approved")


def _charge(campaign, amount=44993):
    return ledger_post_charge(
        merchant_id=campaign.merchant_id,
        currency="CNY",
        amount=amount,
        campaign_id=campaign.pk,
        plan_id=None,
        charge_day=DAY,
    )


@pytest.mark.django_db
def test_charge_reversal_and_settlement_balances(campaign):
    merchant_id = campaign.merchant_id
    _charge(campaign)
    ledger_post_reversal(
        merchant_id=merchant_id,
        currency="CNY",
        amount=14993,
        campaign_id=campaign.pk,
        plan_id=None,
        charge_day=DAY,
    )
    assert ledger_balance(merchant_id=merchant_id, kind="receivable", currency="CNY") == 30000
    assert ledger_balance(merchant_id=merchant_id, kind="subsidy_income", currency="CNY") == -30000
    ledger_post_settlement(merchant_id=merchant_id, currency="CNY", net=30000, business_date=DAY)
    assert ledger_balance(merchant_id=merchant_id, kind="receivable", currency="CNY") == 0
    assert ledger_balance(merchant_id=merchant_id, kind="settled", currency="CNY") == 30000
    # A negative net swaps the sides.
    ledger_post_settlement(merchant_id=merchant_id, currency="CNY", net=-500, business_date=DAY)
    assert ledger_balance(merchant_id=merchant_id, kind="receivable", currency="CNY") == 500
    assert _charge(campaign, amount=0) is None


@pytest.mark.django_db(transaction=True)
def test_an_unbalanced_entry_is_refused_at_commit(campaign):
    account = ledger_account(merchant_id=campaign.merchant_id, kind="receivable", currency="CNY")
    with pytest.raises(IntegrityError, match="not balanced"), transaction.atomic():
        entry = LedgerEntry.objects.create(
            merchant_id=campaign.merchant_id,
            kind="charge",
            currency="CNY",
            business_date=DAY,
            charge_day=DAY,
            campaign=campaign,
        )
        LedgerPosting.objects.create(
            entry=entry,
            merchant_id=campaign.merchant_id,
            account=account,
            amount=100,
            currency="CNY",
        )
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_posting_to_another_merchants_account_is_refused(campaign):
    theirs = ledger_account(merchant_id=MerchantFactory().pk, kind="receivable", currency="CNY")
    mine = ledger_account(merchant_id=campaign.merchant_id, kind="subsidy_income", currency="CNY")
    with pytest.raises(IntegrityError, match="another merchant"), transaction.atomic():
        entry = LedgerEntry.objects.create(
            merchant_id=campaign.merchant_id,
            kind="charge",
            currency="CNY",
            business_date=DAY,
            charge_day=DAY,
            campaign=campaign,
        )
        LedgerPosting.objects.bulk_create(
            [
                LedgerPosting(
                    entry=entry,
                    merchant_id=campaign.merchant_id,
                    account=theirs,
                    amount=5,
                    currency="CNY",
                ),
                LedgerPosting(
                    entry=entry,
                    merchant_id=campaign.merchant_id,
                    account=mine,
                    amount=-5,
                    currency="CNY",
                ),
            ]
        )


@pytest.mark.django_db
def test_entries_and_postings_cannot_be_updated_or_deleted(campaign):
    entry = _charge(campaign)
    posting = entry.postings.first()
    for statement, params in (
        ("UPDATE installments_ledgerposting SET amount = amount + 1 WHERE id = %s", [posting.pk]),
        ("DELETE FROM installments_ledgerposting WHERE id = %s", [posting.pk]),
        ("UPDATE installments_ledgerentry SET memo = 'x' WHERE id = %s", [entry.pk]),
        ("DELETE FROM installments_ledgerentry WHERE id = %s", [entry.pk]),
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, params)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerPosting.objects.filter(pk=posting.pk).update(amount=1)
    assert LedgerPosting.objects.get(pk=posting.pk).amount == 44993
