"""The campaign studio at its edges (the review of issue 9): times at the calendar's ends, campaigns
with more offers than the form's default rows, stored times finer than the form's minutes, what the
audit trail shows a merchant, and the auto-approval threshold for a merchant in another currency.
Bad input gets a form error or a 4xx, never a 500."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_input_from, campaign_validate
from merchants.errors import DomainError
from tests.campaigns.test_studio import campaign_form, preview
from tests.factories import MembershipFactory, MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db

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
