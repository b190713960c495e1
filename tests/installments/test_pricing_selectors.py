"""Fee tables, negotiated rates and platform settings in force at a moment (DESIGN.md §3.1)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from installments.calculator import Rounding
from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings
from installments.selectors import (
    fee_term_in_force,
    fee_terms_in_force,
    platform_settings_in_force,
)
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def test_default_table_from_migration():
    terms = fee_terms_in_force(merchant_id=None, at=T0)
    assert list(terms) == [3, 6, 12]
    assert (terms[3].consumer_rate, terms[3].merchant_rate) == (Decimal("0.023"), Decimal("0.018"))
    assert (terms[6].consumer_rate, terms[6].merchant_rate) == (Decimal("0.045"), Decimal("0.045"))
    assert (terms[12].consumer_rate, terms[12].merchant_rate) == (
        Decimal("0.075"),
        Decimal("0.075"),
    )
    assert all(t.min_amount == 10_000 and t.max_amount == 30_000_000 for t in terms.values())


def test_default_settings_from_migration():
    params = platform_settings_in_force(at=T0)
    assert (params.statement_day, params.due_day, params.rounding) == (1, 10, Rounding.HALF_UP)
    assert params.auto_approval_threshold == 1_000_000


def _table(at: datetime, rows: list[tuple[int, str, str]]) -> FeeTable:
    table = FeeTable.objects.create(effective_from=at)
    for term, consumer, merchant in rows:
        FeeRate.objects.create(
            fee_table=table,
            term=term,
            consumer_rate=Decimal(consumer),
            merchant_rate=Decimal(merchant),
            min_amount=10_000,
            max_amount=30_000_000,
        )
    return table


def test_new_version_takes_over_exactly_at_effective_from():
    _table(T0, [(12, "0.080000", "0.070000"), (24, "0.150000", "0.120000")])
    before = fee_terms_in_force(merchant_id=None, at=T0 - TICK)
    at = fee_terms_in_force(merchant_id=None, at=T0)
    assert before[12].consumer_rate == Decimal("0.075")
    assert 24 not in before
    assert list(at) == [12, 24]
    assert at[12].consumer_rate == Decimal("0.08")


def test_override_window_is_half_open_and_replaces_the_table_row():
    merchant, other = MerchantFactory(), MerchantFactory()
    override = MerchantFeeOverride.objects.create(
        merchant=merchant,
        term=12,
        consumer_rate=Decimal("0.06"),
        merchant_rate=Decimal("0.05"),
        min_amount=50_000,
        max_amount=10_000_000,
        effective_from=T0,
        effective_until=T0 + timedelta(days=30),
    )
    assert fee_term_in_force(merchant_id=merchant.pk, at=T0 - TICK, term=12).override_id is None
    rates = fee_term_in_force(merchant_id=merchant.pk, at=T0, term=12)
    assert rates.override_id == override.pk
    assert (rates.consumer_rate, rates.merchant_rate, rates.min_amount) == (
        Decimal("0.06"),
        Decimal("0.05"),
        50_000,
    )
    assert rates.negotiated
    last = T0 + timedelta(days=30) - TICK
    assert fee_term_in_force(merchant_id=merchant.pk, at=last, term=12).override_id == override.pk
    after = fee_term_in_force(merchant_id=merchant.pk, at=T0 + timedelta(days=30), term=12)
    assert after.override_id is None
    # Another merchant never sees it.
    assert fee_term_in_force(merchant_id=other.pk, at=T0, term=12).override_id is None
    # Other terms still come from the table.
    assert fee_term_in_force(merchant_id=merchant.pk, at=T0, term=3).override_id is None


def test_latest_override_wins_and_can_add_a_term():
    merchant = MerchantFactory()
    for days, rate in [(0, "0.010"), (5, "0.020")]:
        MerchantFeeOverride.objects.create(
            merchant=merchant,
            term=24,
            consumer_rate=Decimal(rate),
            merchant_rate=Decimal(rate),
            min_amount=10_000,
            max_amount=20_000_000,
            effective_from=T0 + timedelta(days=days),
        )
    assert fee_term_in_force(merchant_id=merchant.pk, at=T0 - TICK, term=24) is None
    assert fee_term_in_force(merchant_id=merchant.pk, at=T0, term=24).consumer_rate == Decimal(
        "0.01"
    )
    later = fee_terms_in_force(merchant_id=merchant.pk, at=T0 + timedelta(days=6))
    assert list(later) == [3, 6, 12, 24]
    assert later[24].consumer_rate == Decimal("0.02")


def test_settings_versions():
    PlatformSettings.objects.create(
        effective_from=T0, statement_day=5, due_day=20, rounding="half_even"
    )
    assert platform_settings_in_force(at=T0 - TICK).statement_day == 1
    params = platform_settings_in_force(at=T0)
    assert (params.statement_day, params.due_day, params.rounding) == (5, 20, Rounding.HALF_EVEN)


@pytest.mark.parametrize(
    "fields",
    [
        {"term": 1},
        {"term": 37},
        {"consumer_rate": Decimal("1")},
        {"consumer_rate": Decimal("-0.01")},
        {"merchant_rate": Decimal("1.5")},
        {"min_amount": 0},
        {"min_amount": 500, "max_amount": 400},
    ],
)
def test_fee_rate_constraints(fields):
    table = FeeTable.objects.create(effective_from=T0)
    values = {
        "term": 12,
        "consumer_rate": Decimal("0.075"),
        "merchant_rate": Decimal("0.075"),
        "min_amount": 10_000,
        "max_amount": 30_000_000,
    } | fields
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeRate.objects.create(fee_table=table, **values)


@pytest.mark.parametrize("fields", [{"statement_day": 0}, {"due_day": 29}, {"rounding": "bankers"}])
def test_settings_constraints(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        PlatformSettings.objects.create(effective_from=T0, **fields)


def test_rounding_choices_match_the_calculator():
    field = PlatformSettings._meta.get_field("rounding")
    assert {value for value, _ in field.choices} == {r.value for r in Rounding}
