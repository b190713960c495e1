"""A small world for the operators' console: every model the admin shows has rows (several where
a list could hide an N+1), made through the services so the books reconcile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from campaigns.services import Actor, campaign_submit
from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings
from installments.plan_models import Plan
from installments.settlement import settlement_run_for_date
from merchants.models import Merchant
from merchants.services import api_key_create, merchant_freeze, merchant_unfreeze
from tests.factories import (
    CampaignFactory,
    MembershipFactory,
    MerchantFactory,
    StoreFactory,
    UserFactory,
)
from tests.installments.settlement_helpers import at, commit, live_campaign, refund

D1 = date(2026, 11, 10)
OPERATOR_GROUPS = ("reviewer", "finance", "admin")


@dataclass
class World:
    lumen: Merchant
    other: Merchant
    plans: list[Plan]
    submitted: object


@pytest.fixture
def world(db) -> World:
    lumen = MerchantFactory(name="Lumen Electronics")
    other = MerchantFactory(name="Harbour Books")
    for merchant in (lumen, other):
        for code in ("SH-01", "BJ-02"):
            StoreFactory(merchant=merchant, code=f"{merchant.name[:3].upper()}-{code}")
        MembershipFactory(merchant=merchant)
        MembershipFactory(merchant=merchant, role="viewer")
        api_key_create(merchant=merchant, mode="live")
        api_key_create(merchant=merchant, mode="test")
    merchant_freeze(merchant=other, reason="KYC documents expired")
    merchant_unfreeze(merchant=other, reason="KYC documents renewed")

    plans = []
    for merchant in (lumen, other):
        live_campaign(merchant, since=D1 - timedelta(days=5))
        plans += [commit(merchant, at(D1, hour)) for hour in (9, 10, 11)]
        refund(plans[-1], 100_000, at(D1, 15))
        CampaignFactory(merchant=merchant, name=f"{merchant.name} draft")
    submitted = CampaignFactory(merchant=lumen, name="Spring phones", budget_total=50_000_000)
    campaign_submit(campaign=submitted, actor=Actor.merchant_user(UserFactory()))
    settlement_run_for_date(business_date=D1, requested_by="tests", inline=True)
    settlement_run_for_date(business_date=D1, merchant_id=lumen.pk, inline=True)
    commit(lumen, at(D1 + timedelta(days=1)))  # an unsettled event too

    later = timezone.now() + timedelta(days=30)
    table = FeeTable.objects.create(effective_from=later, note="next year's table")
    FeeRate.objects.create(
        fee_table=table,
        term=24,
        consumer_rate="0.12",
        merchant_rate="0.1",
        min_amount=10_000,
        max_amount=30_000_000,
    )
    PlatformSettings.objects.create(effective_from=later, due_day=15)
    MerchantFeeOverride.objects.create(
        merchant=lumen,
        term=12,
        consumer_rate="0.07",
        merchant_rate="0.06",
        min_amount=10_000,
        max_amount=30_000_000,
        effective_from=later,
    )
    MerchantFeeOverride.objects.create(
        merchant=other,
        term=6,
        consumer_rate="0.04",
        merchant_rate="0.04",
        min_amount=10_000,
        max_amount=30_000_000,
        effective_from=later,
        effective_until=later + timedelta(days=90),
    )

    every_minute = IntervalSchedule.objects.create(every=1, period="minutes")
    nightly = CrontabSchedule.objects.create(hour="2", minute="0", timezone="Asia/Shanghai")
    IntervalSchedule.objects.create(every=1, period="hours")
    CrontabSchedule.objects.create(hour="*", minute="*/5", timezone="Asia/Shanghai")
    SolarSchedule.objects.create(event="sunrise", latitude=31.23, longitude=121.47)
    SolarSchedule.objects.create(event="sunset", latitude=31.23, longitude=121.47)
    ClockedSchedule.objects.create(clocked_time=later)
    ClockedSchedule.objects.create(clocked_time=later + timedelta(days=1))
    PeriodicTask.objects.create(
        name="campaigns-end-due", task="campaigns.end_due", interval=every_minute
    )
    PeriodicTask.objects.create(
        name="settlement-nightly", task="installments.settle_yesterday", crontab=nightly
    )
    return World(lumen=lumen, other=other, plans=plans, submitted=submitted)


@pytest.fixture
def operator(db):
    """``operator("finance")`` → a staff user in that group; ``operator(None)`` a superuser."""

    def make(group: str | None):
        if group is None:
            return UserFactory(username="root", is_staff=True, is_superuser=True)
        user = UserFactory(username=f"op-{group}", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def client_for(operator):
    def make(group: str | None) -> Client:
        client = Client()
        client.force_login(operator(group))
        return client

    return make
