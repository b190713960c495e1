"""Odd input found by review: each once answered 500 or silently widened a campaign."""

import copy

import pytest

from campaigns.models import Campaign
from tests.campaigns.test_api import BODY, assert_problem, post
from tests.factories import CampaignFactory, MerchantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api_client_for):
    return api_client_for(MerchantFactory())


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stores/%C2%B2",
        "/api/v1/stores/99999999999999999999999",
        "/api/v1/campaigns?status=%00",
        "/api/v1/campaigns?status=live",
        "/api/v1/campaigns?cursor=cD1ub3RhZGF0ZQ==",
        "/api/v1/stores?cursor=cD0xJTAw",
        "/api/v1/nothing-here",
        "/api/v1/campaigns/",
    ],
)
def test_odd_urls_are_4xx_problems(client, path):
    response = client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert response["Content-Type"] == "application/problem+json"


def test_deeply_nested_json_is_400(client):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/campaigns", body, content_type="application/json")
    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize(
    ("section", "key"),
    [("scope", "categoriez"), ("budget", "totl"), ("offers", "share")],
)
def test_unknown_nested_keys_are_refused(client, section, key):
    body = copy.deepcopy(BODY)
    if section == "offers":
        body["offers"][0][key] = 1
    else:
        body[section][key] = ["phones"] if section == "scope" else 1
    problem = assert_problem(post(client, "/api/v1/campaigns", body), 400, "validation_error")
    assert any(key in field for field in problem["errors"]), problem
    assert Campaign.objects.count() == 0


def test_reopen_a_rejected_campaign_through_the_api(client):
    campaign_id = post(client, "/api/v1/campaigns", BODY).json()["id"]
    Campaign.objects.filter(pk=campaign_id).update(status="rejected")
    response = post(client, f"/api/v1/campaigns/{campaign_id}/reopen")
    assert response.status_code == 200
    assert response.json()["status"] == "draft"
    assert (
        client.patch(
            f"/api/v1/campaigns/{campaign_id}", {"name": "Narrower"}, format="json"
        ).json()["name"]
        == "Narrower"
    )


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        ("draft", "submit", 200),
        ("draft", "cancel", 200),
        ("draft", "pause", 409),
        ("draft", "resume", 409),
        ("draft", "end", 409),
        ("draft", "reopen", 409),
        ("submitted", "cancel", 200),
        ("submitted", "submit", 409),
        ("submitted", "pause", 409),
        ("submitted", "end", 409),
        ("rejected", "reopen", 200),
        ("rejected", "cancel", 200),
        ("rejected", "submit", 409),
        ("approved", "pause", 200),
        ("approved", "end", 200),
        ("approved", "cancel", 200),
        ("approved", "resume", 409),
        ("approved", "submit", 409),
        ("paused", "resume", 200),
        ("paused", "end", 200),
        ("paused", "pause", 409),
        ("paused", "cancel", 409),
        ("ended", "resume", 409),
        ("ended", "cancel", 409),
        ("ended", "reopen", 409),
        ("cancelled", "submit", 409),
        ("cancelled", "reopen", 409),
        ("cancelled", "end", 409),
    ],
)
def test_transitions_through_the_api(api_client_for, status, action, expected):
    merchant = MerchantFactory()
    campaign = CampaignFactory(merchant=merchant, status=status, budget_total=50_000_000)
    response = post(api_client_for(merchant), f"/api/v1/campaigns/{campaign.pk}/{action}")
    assert response.status_code == expected, response.content
    if expected == 409:
        assert response.json()["code"] == "invalid_transition"
        campaign.refresh_from_db()
        assert campaign.status == status


def test_a_small_raise_keeps_a_larger_pending_raise(client):
    small = copy.deepcopy(BODY)
    small["budget"]["total"] = 500_000
    campaign_id = post(client, "/api/v1/campaigns", small).json()["id"]
    post(client, f"/api/v1/campaigns/{campaign_id}/submit")
    path = f"/api/v1/campaigns/{campaign_id}"
    client.patch(path, {"budget": {"total": 5_000_000}}, format="json")
    body = client.patch(path, {"budget": {"total": 700_000}}, format="json").json()
    assert (body["budget"]["total"], body["pending_budget_total"]) == (700_000, 5_000_000)
