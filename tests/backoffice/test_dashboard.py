"""The dashboard (DESIGN.md §10): today's and month-to-date sales, live campaigns with their budget
left, and notices; in a few queries whatever the number of campaigns."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.selectors import dashboard_live_campaigns, dashboard_notices, dashboard_sales
from campaigns.matching import Basket
from campaigns.models import CampaignAlert, CampaignEvent
from campaigns.selectors import ShownState
from installments.plans import plan_commit, plan_void
from installments.quotes import quote_create
from merchants.services import merchant_freeze
from tests.factories import CampaignFactory, MerchantFactory
from tests.installments.settlement_helpers import PHONE, PHONE_M, at, commit, live_campaign

pytestmark = pytest.mark.django_db


def test_sales_today_and_month_to_date_leave_out_voids_test_plans_and_other_months(db):
    merchant = MerchantFactory()
    today = timezone.localdate() - timedelta(days=40)
    day = date(today.year, today.month, 12)  # a day well inside its month, in the past
    live_campaign(merchant, since=day - timedelta(days=20))
    commit(merchant, at(day, 9))  # today
    # Earlier this month, on a term the campaign does not cover: financed, but no subsidy.
    commit(merchant, at(day - timedelta(days=1), 12), amount=300_000, term=3)
    commit(merchant, at(day - timedelta(days=15), 12))  # last month
    voided = commit(merchant, at(day, 10))
    plan_void(merchant=merchant, test=False, plan_id=voided.pk, now=at(day, 11))
    quote = quote_create(
        merchant=merchant, test=True, currency="CNY", basket=Basket(amount=PHONE), now=at(day, 9)
    )
    plan_commit(
        merchant=merchant,
        test=True,
        quote_id=quote.quote_id,
        term=12,
        merchant_order_ref="TEST",
        now=at(day, 9),
    )
    commit(merchant, at(day, 19))  # later than "now"

    sales = dashboard_sales(merchant=merchant, now=at(day, 18))
    assert (sales.today.financed, sales.today.plans, sales.today.subsidy) == (PHONE, 1, PHONE_M)
    assert (sales.month.financed, sales.month.plans, sales.month.subsidy) == (
        PHONE + 300_000,
        2,
        PHONE_M,
    )
    assert sales.day_start.date() == day and sales.month_start.date() == day.replace(day=1)


def test_live_campaigns_show_their_budget_left_and_a_spent_budget(db):
    merchant = MerchantFactory()
    now = timezone.now()
    window = {"starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=5)}
    healthy = CampaignFactory(merchant=merchant, status="approved", name="Healthy", **window)
    spent = CampaignFactory(
        merchant=merchant, status="approved", name="Spent", budget_total=100, **window
    )
    CampaignFactory(merchant=merchant, status="paused", name="Paused", **window)
    CampaignFactory(merchant=merchant, status="approved", name="Later")  # starts tomorrow
    live = {row.campaign.name: row for row in dashboard_live_campaigns(merchant=merchant)}
    assert set(live) == {"Healthy", "Spent"}
    assert live["Healthy"].state == ShownState.LIVE
    assert live["Healthy"].budget.remaining == healthy.budget_total
    assert live["Spent"].state == ShownState.BUDGET_SPENT
    assert live["Spent"].daily_cap_left is None
    assert spent.pk == live["Spent"].campaign.pk
    merchant_freeze(merchant=merchant, reason="test")
    assert dashboard_live_campaigns(merchant=merchant) == []


def test_notices_are_budget_alerts_and_review_decisions_newest_first(db):
    merchant = MerchantFactory()
    campaign = CampaignFactory(merchant=merchant, name="Noticed")
    CampaignAlert.objects.create(
        merchant=merchant,
        campaign=campaign,
        kind="threshold",
        arm=0,
        budget_total=1000,
        budget_used=850,
    )
    for action, kind in (("rejected", "operator"), ("paused", "merchant"), ("approved", "system")):
        CampaignEvent.objects.create(
            merchant=merchant,
            campaign=campaign,
            action=action,
            actor_kind=kind,
            actor_label=kind,
            reason="too big" if action == "rejected" else "",
        )
    notices = dashboard_notices(merchant=merchant)
    assert [(n.source, n.code) for n in notices] == [
        ("review", "approved"),
        ("review", "rejected"),
        ("alert", "threshold"),
    ]
    assert notices[1].reason == "too big" and notices[1].tone == "bad"
    other = MerchantFactory()
    assert dashboard_notices(merchant=other) == []


def test_the_dashboard_page_shows_the_figures(world, client_as):
    page = client_as(world.users["viewer"]).get("/").content.decode()
    assert "¥5,999.00" in page  # today's plan
    assert "Alpha phones free" in page  # live
    assert "Budget left" in page


def test_the_dashboard_takes_the_same_queries_for_2_or_12_live_campaigns(world, client_as):
    client = client_as(world.users["owner"])
    client.get("/")  # warm the session and the caches

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    few = queries()
    now = timezone.now()
    for n in range(10):
        CampaignFactory(
            merchant=world.a.merchant,
            status="approved",
            name=f"Extra {n}",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=n + 1),
        )
    assert queries() == few
    assert few <= 15
