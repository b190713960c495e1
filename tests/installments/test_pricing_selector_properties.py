"""Properties of the selectors of pricing in force (issue 3): for any set of versions and any moment,
the table, override and settings chosen are the latest whose window contains the moment."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings
from installments.selectors import fee_term_in_force, platform_settings_in_force
from tests.factories import MerchantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

T0 = datetime(2030, 1, 1, tzinfo=UTC)
offsets = st.lists(st.integers(-50, 50), min_size=1, max_size=4, unique=True)
query = st.integers(-60, 60)
SETTINGS = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Rollback(Exception):
    pass


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@SETTINGS
@given(tables=offsets, moment=query)
def test_the_latest_table_not_after_the_moment_is_in_force(tables, moment):
    try:
        with transaction.atomic():
            for index, offset in enumerate(tables):
                table = FeeTable.objects.create(effective_from=at(offset))
                FeeRate.objects.create(
                    fee_table=table,
                    term=12,
                    consumer_rate=Decimal(index + 1) / 100,
                    merchant_rate=Decimal("0.01"),
                    min_amount=1,
                    max_amount=10**9,
                )
            started = [i for i, offset in enumerate(tables) if offset <= moment]
            rates = fee_term_in_force(merchant_id=None, at=at(moment), term=12)
            if started:
                latest = max(started, key=lambda i: tables[i])
                assert rates.consumer_rate == Decimal(latest + 1) / 100
            else:  # only the migration's default table (from 2000) is in force
                assert rates.consumer_rate == Decimal("0.075")
            raise Rollback
    except Rollback:
        pass


@SETTINGS
@given(
    windows=st.lists(
        st.tuples(st.integers(-50, 50), st.one_of(st.none(), st.integers(1, 40))),
        min_size=1,
        max_size=3,
        unique_by=lambda w: w[0],
    ),
    moment=query,
)
def test_an_override_applies_exactly_inside_its_window(windows, moment):
    try:
        with transaction.atomic():
            merchant = MerchantFactory()
            for index, (start, length) in enumerate(windows):
                MerchantFeeOverride.objects.create(
                    merchant=merchant,
                    term=12,
                    consumer_rate=Decimal(index + 1) / 1000,
                    merchant_rate=Decimal("0.001"),
                    min_amount=1,
                    max_amount=10**9,
                    effective_from=at(start),
                    effective_until=None if length is None else at(start + length),
                )
            inside = [
                i
                for i, (start, length) in enumerate(windows)
                if start <= moment and (length is None or moment < start + length)
            ]
            rates = fee_term_in_force(merchant_id=merchant.pk, at=at(moment), term=12)
            if inside:
                latest = max(inside, key=lambda i: windows[i][0])
                assert rates.consumer_rate == Decimal(latest + 1) / 1000
                assert rates.negotiated
            else:
                assert not rates.negotiated
                assert rates.consumer_rate == Decimal("0.075")
            raise Rollback
    except Rollback:
        pass


@SETTINGS
@given(versions=offsets, moment=query)
def test_the_latest_settings_version_is_in_force(versions, moment):
    try:
        with transaction.atomic():
            for index, offset in enumerate(versions):
                PlatformSettings.objects.create(
                    effective_from=at(offset), statement_day=index + 2, due_day=20
                )
            started = [i for i, offset in enumerate(versions) if offset <= moment]
            params = platform_settings_in_force(at=at(moment))
            expected = max(started, key=lambda i: versions[i]) + 2 if started else 1
            assert params.statement_day == expected
            raise Rollback
    except Rollback:
        pass
