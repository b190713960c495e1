"""Two merchants with everything a back-office page shows (stores, a live campaign, live and test
plans, a refund, statements with an adjustment, API keys), a member of A in each role, a person in
both merchants and an operator. B's objects carry distinctive names so a test can prove that no
page of A ever shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from campaigns.matching import Basket
from campaigns.models import Campaign
from installments.plan_models import Plan
from installments.plans import plan_commit
from installments.quotes import quote_create
from installments.settlement import settlement_run_for_date, settlement_today
from installments.settlement_models import Statement
from merchants.models import ApiKey, Membership, Merchant, Store
from merchants.services import api_key_create
from tests.factories import MembershipFactory, MerchantFactory, StoreFactory, UserFactory
from tests.installments.settlement_helpers import at, commit, live_campaign, refund

PASSWORD = "correct horse battery staple"
ROLES = ("owner", "manager", "finance", "viewer")


@dataclass
class Shop:
    merchant: Merchant
    store: Store
    campaign: Campaign
    plan: Plan  # live, active, with a campaign, committed today and unsettled: refundable
    settled_plan: Plan  # live, committed yesterday, partly refunded
    test_plan: Plan
    statement: Statement  # today's statement, with an adjustment line
    api_key: ApiKey
    owner_membership: Membership


def _test_plan(merchant: Merchant, ref: str) -> Plan:
    quote = quote_create(
        merchant=merchant, test=True, currency="CNY", basket=Basket(amount=300_000)
    )
    return plan_commit(
        merchant=merchant, test=True, quote_id=quote.quote_id, term=12, merchant_order_ref=ref
    )


def build_shop(label: str) -> Shop:
    """A merchant whose name, store, campaign and references all carry ``label``."""
    merchant = MerchantFactory(name=f"{label} Merchant")
    store = StoreFactory(merchant=merchant, code=f"{label}-STORE", name=f"{label} flagship")
    yesterday = settlement_today() - timedelta(days=1)
    campaign = live_campaign(merchant, since=yesterday, name=f"{label} phones free")
    settled = commit(merchant, at(yesterday, 10))
    Plan.objects.filter(pk=settled.pk).update(merchant_order_ref=f"{label}-ORDER-SETTLED")
    refund(settled, 100_000, at(yesterday, 11))
    settlement_run_for_date(business_date=yesterday, merchant_id=merchant.pk, inline=True)
    # An event dated yesterday that arrives after yesterday's statement: an adjustment today.
    late = commit(merchant, at(yesterday, 15))
    Plan.objects.filter(pk=late.pk).update(merchant_order_ref=f"{label}-ORDER-LATE")
    settlement_run_for_date(business_date=settlement_today(), merchant_id=merchant.pk, inline=True)
    statement = Statement.objects.get(merchant=merchant, business_date=settlement_today())
    plan = commit(merchant, timezone.now())
    Plan.objects.filter(pk=plan.pk).update(merchant_order_ref=f"{label}-ORDER-OPEN")
    plan.refresh_from_db()
    settled.refresh_from_db()
    test_plan = _test_plan(merchant, f"{label}-ORDER-TEST")
    api_key = api_key_create(merchant=merchant, mode="live", name=f"{label} checkout").api_key
    owner = MembershipFactory(
        merchant=merchant, user=UserFactory(username=f"{label.lower()}-owner"), role="owner"
    )
    return Shop(
        merchant=merchant,
        store=store,
        campaign=campaign,
        plan=plan,
        settled_plan=settled,
        test_plan=test_plan,
        statement=statement,
        api_key=api_key,
        owner_membership=owner,
    )


@dataclass
class World:
    a: Shop
    b: Shop
    users: dict[str, object]  # role → a member of A with that role
    multi: object  # viewer of A and owner of B
    operator: object  # staff, no membership


@pytest.fixture
def world(db) -> World:
    a = build_shop("Alpha")
    b = build_shop("Beta")
    users = {"owner": a.owner_membership.user}
    for role in ROLES[1:]:
        users[role] = MembershipFactory(
            merchant=a.merchant, user=UserFactory(username=f"alpha-{role}"), role=role
        ).user
    multi = UserFactory(username="both")
    MembershipFactory(merchant=a.merchant, user=multi, role="viewer")
    MembershipFactory(merchant=b.merchant, user=multi, role="owner")
    operator = UserFactory(username="ops", is_staff=True)
    return World(a=a, b=b, users=users, multi=multi, operator=operator)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Sign-in throttling counts in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client_as():
    """``client_as(user)`` → a test client signed in as ``user``."""

    def make(user, **kwargs) -> Client:
        client = Client(**kwargs)
        client.force_login(user)
        return client

    return make
