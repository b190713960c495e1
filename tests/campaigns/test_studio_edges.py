"""The campaign studio at its edges (the review of issue 9): times at the calendar's ends, campaigns
with more offers than the form's default rows, stored times finer than the form's minutes, what the
audit trail shows a merchant, and the auto-approval threshold for a merchant in another currency.
Bad input gets a form error or a 4xx, never a 500."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import (
    Actor,
    CampaignInput,
    OfferInput,
    campaign_approve,
    campaign_create,
    campaign_input_from,
    campaign_submit,
    campaign_update,
    campaign_validate,
)
from campaigns.views import event_changes
from merchants.errors import DomainError
from tests.campaigns.test_studio import campaign_form, preview
from tests.factories import MembershipFactory, MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db

MINUTE = "%Y-%m-%dT%H:%M"
YEAR_ONE = {"starts_at": "0001-01-01T00:00", "ends_at": "0001-01-02T00:00"}


@pytest.mark.parametrize("intent", ["draft", "submit"])
def test_a_start_before_the_calendar_in_utc_is_a_form_error_not_a_broken_campaign(shop, intent):
    merchant, client = shop
    client.raise_request_exception = False
    response = client.post("/campaigns/new/", {**campaign_form(**YEAR_ONE), "intent": intent})
    assert response.status_code == 400
    assert response.context["form"].errors["starts_at"] == [
        "Choose a date between the years 1 and 9999."
    ]
    assert not Campaign.objects.filter(merchant=merchant).exists()
    assert client.get("/campaigns/").status_code == 200
    answer = preview(client, campaign_form(**YEAR_ONE), {"preview-amount": "5999"})
    assert answer["errors"]["starts_at"] == ["Choose a date between the years 1 and 9999."]


def test_campaign_validate_refuses_a_time_that_does_not_exist_in_utc(shop):
    merchant, client = shop
    client.post("/campaigns/new/", {**campaign_form(), "intent": "draft"})
    data = campaign_input_from(Campaign.objects.get(merchant=merchant))
    shanghai = timezone.get_default_timezone()
    edge = datetime(1, 1, 1, tzinfo=shanghai)
    with pytest.raises(DomainError) as refused:
        campaign_validate(merchant=merchant, data=dataclasses.replace(data, starts_at=edge))
    assert set(refused.value.errors) == {"starts_at"}


def _owner_client(merchant) -> Client:
    owner = MembershipFactory(merchant=merchant, user=UserFactory()).user
    client = Client()
    client.force_login(owner)
    return client


def test_the_api_still_refuses_a_time_at_the_calendars_edge(api_client_for):
    merchant = MerchantFactory()
    api = api_client_for(merchant)
    now = timezone.now()
    body = {
        "name": "Edge",
        "starts_at": "0001-01-01T00:00:00+08:00",
        "ends_at": (now + timedelta(days=3)).isoformat(),
        "offers": [{"term": 12, "merchant_share_bp": 10000}],
        "budget": {"total": 100000},
    }
    response = api.post("/api/v1/campaigns", body, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "window",
    [
        {"starts_at": "9999-12-31T23:59", "ends_at": "9999-12-31T23:59"},
        {"starts_at": "9999-12-31T23:59", "ends_at": ""},
    ],
)
def test_the_preview_of_a_window_on_the_calendars_last_minute_answers(shop, window):
    _, client = shop
    answer = preview(client, campaign_form(**window), {"preview-amount": "5999"})
    assert answer["preview"] is not None
    assert answer["errors"].get("ends_at")


def _stored_campaign(merchant, *, offers: list[OfferInput], approved: bool) -> Campaign:
    """A campaign made through the API's service (times to the microsecond, any number of offers)."""
    now = timezone.now()
    campaign = campaign_create(
        merchant=merchant,
        actor=Actor.system("test"),
        data=CampaignInput(
            name="From the API",
            starts_at=now + timedelta(hours=1, seconds=7, microseconds=123_456),
            ends_at=now + timedelta(days=10, microseconds=654_321),
            offers=offers,
            budget_total=500_000,
        ),
    )
    if approved:  # within the auto-approval threshold: approved at once
        campaign = campaign_submit(campaign=campaign, actor=Actor.merchant_user(UserFactory()))
        assert campaign.status == "approved"
    return campaign


def _posted_back(form) -> dict[str, object]:
    """The edit form as a browser posts it back untouched (times to the minute, as it shows them)."""
    data: dict[str, object] = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        if value is True:
            value = "on"
        elif hasattr(value, "strftime"):
            value = value.strftime(MINUTE)
        data[name] = value
    return data


NINE_OFFERS = [
    OfferInput(term=term, merchant_share_bp=10000, min_amount=minimum)
    for term in (3, 6, 12)
    for minimum in (10_000, 100_000, 300_000)
]


@pytest.mark.parametrize("approved", [False, True], ids=["draft", "approved"])
def test_editing_a_campaign_with_more_offers_than_the_default_rows_keeps_them_all(shop, approved):
    merchant, client = shop
    campaign = _stored_campaign(merchant, offers=NINE_OFFERS, approved=approved)
    url = f"/campaigns/{campaign.pk}/edit/"
    page = client.get(url)
    assert page.content.decode().count("data-offer-row=") >= 9
    data = {**_posted_back(page.context["form"]), "budget_total": "6000.00"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    campaign.refresh_from_db()
    assert campaign.budget_total == 600_000
    assert sorted((o.term, o.min_amount) for o in campaign.offers.all()) == sorted(
        (o.term, o.min_amount) for o in NINE_OFFERS
    )


def test_a_draft_can_add_tiers_beyond_the_default_rows_but_not_past_the_maximum(shop):
    merchant, client = shop
    rows = {}
    for row, (term, minimum) in enumerate(
        (t, m) for t in (3, 6, 12) for m in ("100", "1000", "3000")
    ):
        rows |= {
            f"offer_{row}_term": str(term),
            f"offer_{row}_share": "100",
            f"offer_{row}_min": minimum,
        }
    response = client.post("/campaigns/new/", {**campaign_form(**rows), "intent": "draft"})
    assert response.status_code == 302
    assert Campaign.objects.get(merchant=merchant).offers.count() == 9
    too_far = {"offer_36_term": "12", "offer_36_share": "100", "offer_36_min": "9000"}
    response = client.post("/campaigns/new/", {**campaign_form(**too_far), "intent": "draft"})
    assert response.status_code == 400
    assert response.context["form"].errors["offers"] == ["A campaign has at most 36 offers."]


@pytest.mark.parametrize("approved", [False, True], ids=["draft", "approved"])
def test_a_stored_time_finer_than_a_minute_survives_an_edit_of_the_budget(shop, approved):
    merchant, client = shop
    campaign = _stored_campaign(merchant, offers=NINE_OFFERS[:2], approved=approved)
    starts_at, ends_at = campaign.starts_at, campaign.ends_at
    url = f"/campaigns/{campaign.pk}/edit/"
    data = {**_posted_back(client.get(url).context["form"]), "budget_total": "6000.00"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    campaign.refresh_from_db()
    assert (campaign.starts_at, campaign.ends_at, campaign.budget_total) == (
        starts_at,
        ends_at,
        600_000,
    )


def _changes(page: str) -> list[str]:
    return [
        " ".join(change.split())
        for change in re.findall(r'<span class="nowrap"><code>(.*?)</span>', page, re.S)
    ]


def test_the_audit_trail_shows_money_in_the_merchants_currency_and_only_real_changes(shop):
    merchant, client = shop
    assert client.post("/campaigns/new/", campaign_form()).status_code == 302
    campaign = Campaign.objects.get(merchant=merchant)
    url = f"/campaigns/{campaign.pk}/edit/"
    # Saved again as the form shows it, with a bigger budget and one tier's share changed.
    edited = campaign_form(budget_total="9000.00", offer_2_share="50")
    assert client.post(url, edited).status_code == 302
    changes = _changes(client.get(f"/campaigns/{campaign.pk}/").content.decode())
    assert "budget_total</code>: ¥8,000.00 → ¥9,000.00" in changes
    offers = next(change for change in changes if change.startswith("offers</code>"))
    assert "6 months: you pay 100% of the fee from ¥100.00" in offers
    assert "6 months: you pay 50% of the fee from ¥100.00" in offers
    assert "12 months: you pay 50% of the fee from ¥1,000.00" in offers
    # The same window, written once in UTC and once at +08:00, is no change.
    assert not [change for change in changes if change.startswith(("starts_at", "ends_at"))]
    assert len(changes) == 2, changes


def test_the_audit_trail_compares_times_as_instants():
    same = event_changes(
        {"starts_at": "2026-12-01T02:00:00+00:00", "daily_cap": None},
        {"starts_at": "2026-12-01T10:00:00+08:00", "daily_cap": 50_000},
        currency="JPY",
    )
    assert same == [("daily_cap", "", "¥50,000")]
    with timezone.override(ZoneInfo("Asia/Shanghai")):
        later = event_changes(
            {"ends_at": "2026-12-01T02:00:00+00:00"},
            {"ends_at": "2026-12-02T10:00:00+08:00"},
            currency="CNY",
        )
    assert later == [("ends_at", "Dec. 1, 2026, 10 a.m.", "Dec. 2, 2026, 10 a.m.")]


def test_the_auto_approval_threshold_is_stated_and_applied_in_the_platforms_currency(shop):
    yen = MerchantFactory(name="JP", currency="JPY", timezone="Asia/Tokyo")
    client = _owner_client(yen)
    page = client.get("/campaigns/new/").content.decode()
    assert "¥1,000,000" not in page
    assert (
        "Every budget in JPY waits for the platform's review: the automatic approval of "
        "budgets up to ¥10,000.00 applies to budgets in CNY only."
    ) in page
    # ¥8,000 (JPY) is far below 1,000,000 minor units, but it is not ¥8,000.00 (CNY): reviewed.
    form = campaign_form(
        budget_total="8000", offer_0_min="100000", offer_1_min="300000", offer_2_min="10000"
    )
    assert client.post("/campaigns/new/", {**form, "intent": "submit"}).status_code == 302
    campaign = Campaign.objects.get(merchant=yen)
    assert (campaign.budget_total, campaign.status) == (8000, "submitted")
    # Approved by an operator, a raise waits for review too.
    campaign_approve(campaign=campaign, actor=Actor.operator(None))
    data = dataclasses.replace(campaign_input_from(campaign), budget_total=9000)
    campaign = campaign_update(campaign=campaign, actor=Actor.system("test"), data=data)
    assert (campaign.budget_total, campaign.pending_budget_total) == (8000, 9000)

    # A merchant in CNY reads the same threshold and is approved at once below it.
    merchant, cny = shop
    page = cny.get("/campaigns/new/").content.decode()
    assert "A budget of ¥10,000.00 or less is approved as soon as you submit" in page
    assert cny.post("/campaigns/new/", {**campaign_form(), "intent": "submit"}).status_code == 302
    assert Campaign.objects.get(merchant=merchant).status == "approved"
