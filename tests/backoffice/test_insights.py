"""What the dashboard and a campaign's page tell a merchant (issue 9): the budget's run-out date at the
current pace, the 30-day trend (financed sales, subsidy, the interest-free share, the term mix) and
the server-drawn charts that show them, with their figures as tables."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from backoffice.charts import daily_bar_chart
from backoffice.selectors import plans_trend
from campaigns.models import Campaign
from campaigns.selectors import PACE_DAYS, _outlook, campaign_daily_subsidy, campaign_outlooks
from tests.factories import MembershipFactory, MerchantFactory, UserFactory
from tests.installments.settlement_helpers import (
    PHONE,
    PHONE_M,
    SHANGHAI,
    at,
    commit,
    live_campaign,
)

pytestmark = pytest.mark.django_db


def test_the_budget_runs_out_at_the_pace_of_the_last_seven_full_days(db):
    merchant = MerchantFactory()
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    campaign = live_campaign(merchant, since=today - timedelta(days=20))
    Campaign.objects.filter(pk=campaign.pk).update(budget_total=10 * PHONE_M)
    commit(merchant, at(today - timedelta(days=9)))  # before the pace's window: left out of it
    for back in (1, 2, 4, 7):  # four subsidised plans in the last seven full days
        commit(merchant, at(today - timedelta(days=back)))
    campaign.refresh_from_db()
    outlook = campaign_outlooks(merchant=merchant, campaigns=[campaign])[campaign.pk]
    assert outlook.days_measured == PACE_DAYS
    assert outlook.pace == 4 * PHONE_M // 7
    assert outlook.remaining == 5 * PHONE_M
    assert outlook.runs_out_on == today + timedelta(days=(5 * PHONE_M) // (4 * PHONE_M // 7))
    assert not outlook.lasts_to_end
    daily = {
        point.day: point.amount for point in campaign_daily_subsidy(campaign, merchant=merchant)
    }
    assert daily[today - timedelta(days=1)] == PHONE_M and daily[today - timedelta(days=3)] == 0


def _campaign(start: date, end: date, *, total: int = 1_000_000, used: int = 0) -> Campaign:
    return Campaign(
        starts_at=at(start, 0), ends_at=at(end, 0), budget_total=total, budget_used=used
    )


def test_the_outlook_without_history_without_spending_and_past_the_end():
    today = date(2026, 11, 30)
    started_today = _outlook(
        _campaign(today, today + timedelta(days=9)), spent=0, today=today, tz=SHANGHAI
    )
    assert (started_today.pace, started_today.runs_out_on) == (None, None)
    # Started three days ago: the pace is over those three full days.
    young = _outlook(
        _campaign(today - timedelta(days=3), today + timedelta(days=200)),
        spent=30_000,
        today=today,
        tz=SHANGHAI,
    )
    assert (young.days_measured, young.pace) == (3, 10_000)
    assert young.runs_out_on == today + timedelta(days=100)  # ¥10,000 left at ¥100 a day
    idle = _outlook(
        _campaign(today - timedelta(days=10), today + timedelta(days=5)),
        spent=0,
        today=today,
        tz=SHANGHAI,
    )
    assert (idle.pace, idle.runs_out_on, idle.lasts_to_end) == (0, None, False)
    # Ends at midnight on Dec 5: its last day is Dec 4, before the budget would run out.
    lasting = _outlook(
        _campaign(today - timedelta(days=10), today + timedelta(days=5)),
        spent=70_000,
        today=today,
        tz=SHANGHAI,
    )
    assert lasting.lasts_to_end and lasting.runs_out_on is None
    assert lasting.ends_on == today + timedelta(days=4)


def test_a_big_budget_at_a_slow_pace_lasts_to_the_end_without_a_date_past_the_calendar():
    today = date(2026, 11, 30)
    # ¥10,000,000.00 left at ¥1.42 a day: 7 million days, far past the year 9999.
    slow = _outlook(
        _campaign(today - timedelta(days=10), today + timedelta(days=20), total=10**9),
        spent=1_000,
        today=today,
        tz=SHANGHAI,
    )
    assert (slow.pace, slow.runs_out_on, slow.lasts_to_end) == (142, None, True)
    assert slow.ends_on == today + timedelta(days=19)


def test_the_pages_with_a_big_budget_at_a_slow_pace_say_it_lasts_to_the_end(db):
    merchant = MerchantFactory()
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    campaign = live_campaign(merchant, since=today - timedelta(days=3), budget=4 * 10**9)
    commit(merchant, at(today - timedelta(days=1)), amount=20_000)  # ¥15 of subsidy yesterday
    owner = MembershipFactory(merchant=merchant, user=UserFactory(username="slow-owner")).user
    client = Client()
    client.force_login(owner)
    for url in ("/", "/campaigns/", f"/campaigns/{campaign.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
    outlook = campaign_outlooks(merchant=merchant, campaigns=[campaign])[campaign.pk]
    assert outlook.lasts_to_end and outlook.runs_out_on is None


def test_the_30_day_trend_and_the_interest_free_share(db):
    merchant = MerchantFactory()
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    live_campaign(merchant, since=today - timedelta(days=40))  # 12 months free, all products
    commit(merchant, at(today - timedelta(days=2)))  # interest-free
    commit(merchant, at(today - timedelta(days=2), 15), amount=300_000, term=3)  # full fee
    commit(merchant, at(today - timedelta(days=31)))  # before the 30 days
    trend = plans_trend(merchant=merchant)
    assert len(trend.days) == 30 and trend.days[-1].day == today
    day = {d.day: d for d in trend.days}[today - timedelta(days=2)]
    assert (day.plans, day.financed, day.subsidy) == (2, PHONE + 300_000, PHONE_M)
    assert (trend.financed, trend.subsidy, trend.interest_free_financed) == (
        PHONE + 300_000,
        PHONE_M,
        PHONE,
    )
    assert trend.interest_free_share_bp == PHONE * 10_000 // (PHONE + 300_000)
    assert [(t.term, t.plans, t.interest_free_plans) for t in trend.terms] == [
        (3, 1, 0),
        (12, 1, 1),
    ]


def test_the_bar_chart_scales_to_round_amounts():
    days = [date(2026, 11, d) for d in range(1, 31)]
    chart = daily_bar_chart([(d, 123_456 if d.day == 15 else 10_000) for d in days], currency="CNY")
    assert [tick.text for tick in chart.ticks] == ["¥0", "¥500", "¥1,000", "¥1,500", "¥2,000"]
    tallest = max(chart.bars, key=lambda bar: float(bar.height))
    assert tallest.value_text == "¥1,234.56"
    assert float(tallest.height) == pytest.approx(166 * 123_456 / 200_000, abs=0.1)
    assert chart.day_labels[0].text == "11/1"
    empty = daily_bar_chart([(d, 0) for d in days], currency="CNY")
    assert len({tick.text for tick in empty.ticks}) == 5  # never the same amount twice


def test_the_dashboard_draws_its_charts_with_titles_and_a_table(world, client_as):
    page = client_as(world.users["viewer"]).get("/").content.decode()
    assert re.search(
        r'<svg viewBox="0 0 640 200" role="img" aria-labelledby="financed-chart-title', page
    )
    assert '<title id="subsidy-chart-title">Subsidy you paid per day, last 30 days</title>' in page
    assert "Show the 30 days as a table" in page
    assert 'data-figure="interest-free-share"' in page
    assert "Term mix, last 30 days" in page
    assert "12 months" in page


def test_a_campaign_page_shows_its_results_outlook_and_actions(world, client_as):
    campaign = world.a.campaign
    owner = client_as(world.users["owner"]).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'aria-labelledby="campaign-subsidy-chart-title' in owner  # it has subsidy: a chart
    assert "The pace is the average subsidy charged per day over the last 7 full days" in owner
    assert (
        f"/campaigns/{campaign.pk}/pause/" in owner and f"/campaigns/{campaign.pk}/edit/" in owner
    )
    viewer = client_as(world.users["viewer"]).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f"/campaigns/{campaign.pk}/pause/" not in viewer  # buttons follow the role


def test_a_campaign_running_for_years_charts_its_last_year_only(db):
    from campaigns.selectors import DAILY_DAYS_SHOWN

    merchant = MerchantFactory()
    today = timezone.localtime(timezone.now(), SHANGHAI).date()
    campaign = live_campaign(merchant, since=today - timedelta(days=3 * 365))
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=at(today + timedelta(days=30)))
    campaign.refresh_from_db()
    commit(merchant, at(today - timedelta(days=1)))
    daily = campaign_daily_subsidy(campaign, merchant=merchant)
    assert len(daily) == DAILY_DAYS_SHOWN
    assert daily[-1].day == today and daily[0].day == today - timedelta(days=DAILY_DAYS_SHOWN - 1)
    assert daily[-2].amount == PHONE_M
