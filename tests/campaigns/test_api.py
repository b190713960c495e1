"""``/api/v1/campaigns`` and ``/api/v1/stores``: the contract of DESIGN.md §6, strict input, problem+json
errors, and tenancy (one merchant's key never reads or changes another's data)."""

import copy
import json

import pytest
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignEvent
from merchants.models import Store
from merchants.services import api_key_revoke, merchant_freeze
from tests.factories import CampaignFactory, MerchantFactory, StoreFactory

pytestmark = pytest.mark.django_db

BODY = {
    "name": "Singles' Day phones",
    "description": "",
    "starts_at": "2030-11-01T00:00:00+08:00",
    "ends_at": "2030-11-12T00:00:00+08:00",
    "offers": [
        {"term": 12, "merchant_share_bp": 10000, "min_amount": 300000},
        {"term": 6, "merchant_share_bp": 10000, "min_amount": 10000},
    ],
    "scope": {
        "all_products": False,
        "categories": ["phones"],
        "skus": [],
        "exclude_skus": ["P70-REFURB"],
    },
    "stores": [],
    "channels": ["online", "in_store"],
    "min_amount": 10000,
    "max_amount": None,
    "budget": {
        "total": 10000000,
        "daily_cap": None,
        "alert_threshold_bp": 8000,
        "alert_emails": [],
    },
    "per_consumer_limit": None,
    "stacks_with_government_subsidy": True,
}

CONTRACT_KEYS = {
    "id",
    "name",
    "description",
    "status",
    "starts_at",
    "ends_at",
    "offers",
    "scope",
    "stores",
    "channels",
    "min_amount",
    "max_amount",
    "budget",
    "per_consumer_limit",
    "stacks_with_government_subsidy",
    "budget_used",
    "budget_used_today",
    "budget_remaining",
}


@pytest.fixture
def merchant():
    return MerchantFactory()


@pytest.fixture
def client(merchant, api_client_for):
    return api_client_for(merchant)


def post(client, path, body=None, **kwargs):
    return client.post(path, body if body is not None else {}, format="json", **kwargs)


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def test_create_returns_the_contract(client):
    response = post(client, "/api/v1/campaigns", BODY)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= CONTRACT_KEYS
    assert body["status"] == "draft"
    assert body["starts_at"] == "2030-11-01T00:00:00+08:00"
    assert body["ends_at"] == "2030-11-12T00:00:00+08:00"
    assert body["offers"] == sorted(BODY["offers"], key=lambda o: (o["term"], o["min_amount"]))
    assert body["scope"] == BODY["scope"]
    assert body["budget"] == BODY["budget"]
    assert (body["budget_used"], body["budget_used_today"], body["budget_remaining"]) == (
        0,
        0,
        10000000,
    )
    for key in ("min_amount", "stores", "channels", "per_consumer_limit", "max_amount"):
        assert body[key] == BODY[key]
    assert CampaignEvent.objects.get(campaign_id=body["id"]).action == "created"


def test_times_without_offset_are_read_in_the_merchants_zone(client):
    body = copy.deepcopy(BODY) | {
        "starts_at": "2030-11-01T00:00:00",
        "ends_at": "2030-11-02T00:00:00",
    }
    response = post(client, "/api/v1/campaigns", body)
    assert response.json()["starts_at"] == "2030-11-01T00:00:00+08:00"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("budget", "total"), "10000000", "budget.total"),
        (("budget", "total"), 100.5, "budget.total"),
        (("budget", "total"), 1e7, "budget.total"),
        (("budget", "total"), True, "budget.total"),
        (("budget", "total"), -5, "budget.total"),
        (("budget", "total"), 10**19, "budget.total"),
        (("budget", "daily_cap"), "1000", "budget.daily_cap"),
        (("budget", "alert_threshold_bp"), 10001, "budget.alert_threshold_bp"),
        (("budget", "alert_emails"), ["not-an-email"], "budget.alert_emails[0]"),
        (("min_amount",), "10000", "min_amount"),
        (("name",), "x" * 61, "name"),
        (("name",), 123, "name"),
        (("channels",), ["carrier_pigeon"], "channels[0]"),
        (("channels",), [], "channels"),
        (("offers",), [], "offers"),
        (("offers",), [{"term": 12, "merchant_share_bp": 0}], "offers[0].merchant_share_bp"),
        (("offers",), [{"term": 12, "merchant_share_bp": 10001}], "offers[0].merchant_share_bp"),
        (("offers",), [{"term": "12", "merchant_share_bp": 100}], "offers[0].term"),
        (("stacks_with_government_subsidy",), "yes", "stacks_with_government_subsidy"),
        (("starts_at",), "next tuesday", "starts_at"),
        (("per_consumer_limit",), 0, "per_consumer_limit"),
        (("surprise",), 1, "surprise"),
    ],
)
def test_bad_fields_are_400_with_the_field_named(client, path, value, field):
    body = copy.deepcopy(BODY)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = post(client, "/api/v1/campaigns", body)
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"], problem
    assert Campaign.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": "2030-10-01T00:00:00+08:00"}, "ends_at"),
        ({"offers": [{"term": 24, "merchant_share_bp": 10000}]}, "offers[0]"),
        (
            {
                "offers": [
                    {"term": 12, "merchant_share_bp": 5000, "min_amount": 100000},
                    {"term": 12, "merchant_share_bp": 10000, "min_amount": 100000},
                ]
            },
            "offers[1]",
        ),
        ({"stores": ["NOPE"]}, "stores"),
        ({"min_amount": 10}, "min_amount"),
        ({"max_amount": 40_000_000}, "max_amount"),
        ({"min_amount": 500000, "max_amount": 400000}, "max_amount"),
        ({"scope": {"all_products": False, "categories": [], "skus": []}}, "scope"),
        ({"budget": {"total": 1000, "daily_cap": 2000}}, "budget.daily_cap"),
    ],
)
def test_business_rules_are_400_with_the_field_named(client, change, field):
    response = post(client, "/api/v1/campaigns", copy.deepcopy(BODY) | change)
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"], problem
    assert Campaign.objects.count() == 0


def test_malformed_json_and_non_objects(client):
    response = client.post("/api/v1/campaigns", "{not json", content_type="application/json")
    assert_problem(response, 400, "validation_error")
    response = client.post("/api/v1/campaigns", "[1, 2]", content_type="application/json")
    assert_problem(response, 400, "validation_error")


def test_authentication():
    anonymous = APIClient()
    assert_problem(anonymous.get("/api/v1/campaigns"), 401, "authentication_failed")
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer ipk_live_nope_nope")
    assert_problem(anonymous.get("/api/v1/campaigns"), 401, "authentication_failed")
    anonymous.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_problem(anonymous.get("/api/v1/campaigns"), 401, "authentication_failed")


def test_revoked_key_is_401(client):
    api_key_revoke(api_key=client.api_key)
    assert_problem(client.get("/api/v1/campaigns"), 401, "authentication_failed")


def test_lifecycle_through_the_api(client):
    small = copy.deepcopy(BODY)
    small["budget"]["total"] = 500_000
    campaign_id = post(client, "/api/v1/campaigns", small).json()["id"]
    base = f"/api/v1/campaigns/{campaign_id}"
    submitted = post(client, f"{base}/submit")
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "approved"  # at or below the auto-approval threshold
    assert submitted.json()["shown_state"] == "scheduled"
    assert post(client, f"{base}/pause").json()["status"] == "paused"
    assert post(client, f"{base}/resume").json()["status"] == "approved"
    assert_problem(post(client, f"{base}/submit"), 409, "invalid_transition")
    assert post(client, f"{base}/cancel").json()["status"] == "cancelled"
    assert_problem(post(client, f"{base}/end"), 409, "invalid_transition")
    duplicate = post(client, f"{base}/duplicate")
    assert duplicate.status_code == 201
    assert duplicate.json()["status"] == "draft"
    actions = list(
        CampaignEvent.objects.filter(campaign_id=campaign_id).values_list("action", flat=True)
    )
    assert actions == ["created", "submitted", "approved", "paused", "resumed", "cancelled"]


def test_update_after_approval(client):
    small = copy.deepcopy(BODY)
    small["budget"]["total"] = 500_000
    campaign_id = post(client, "/api/v1/campaigns", small).json()["id"]
    post(client, f"/api/v1/campaigns/{campaign_id}/submit")
    path = f"/api/v1/campaigns/{campaign_id}"
    refused = client.patch(path, {"name": "Other"}, format="json")
    body = assert_problem(refused, 409, "invalid_transition")
    assert "name" in body["errors"]
    raised = client.patch(path, {"budget": {"total": 900_000}}, format="json")
    assert raised.status_code == 200
    assert raised.json()["budget"]["total"] == 900_000
    pending = client.patch(path, {"budget": {"total": 5_000_000}}, format="json")
    assert (pending.json()["budget"]["total"], pending.json()["pending_budget_total"]) == (
        900_000,
        5_000_000,
    )
    # A full PUT of the current representation with only a later end is accepted.
    current = client.get(path).json()
    current["ends_at"] = "2030-11-20T00:00:00+08:00"
    put = client.put(path, current, format="json")
    assert put.status_code == 200, put.content
    assert put.json()["ends_at"] == "2030-11-20T00:00:00+08:00"


def test_patch_keeps_what_it_does_not_name(client):
    campaign_id = post(client, "/api/v1/campaigns", BODY).json()["id"]
    response = client.patch(
        f"/api/v1/campaigns/{campaign_id}", {"budget": {"daily_cap": 50_000}}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["budget"] == BODY["budget"] | {"daily_cap": 50_000}
    assert body["scope"] == BODY["scope"]
    assert len(body["offers"]) == 2


def test_frozen_merchant_gets_403_on_changes_but_can_read(client, merchant):
    campaign_id = post(client, "/api/v1/campaigns", BODY).json()["id"]
    merchant_freeze(merchant=merchant, reason="review")
    assert_problem(post(client, "/api/v1/campaigns", BODY), 403, "merchant_frozen")
    assert_problem(post(client, f"/api/v1/campaigns/{campaign_id}/submit"), 403, "merchant_frozen")
    assert client.get(f"/api/v1/campaigns/{campaign_id}").status_code == 200
    assert client.get("/api/v1/campaigns").status_code == 200


class TestTenancy:
    """Merchant A's key against merchant B's ids: 404 everywhere, nothing changes, lists show only A's."""

    @pytest.fixture
    def other(self):
        theirs = MerchantFactory()
        return {
            "campaign": CampaignFactory(merchant=theirs, status="draft"),
            "store": StoreFactory(merchant=theirs, code="THEIRS"),
        }

    def test_reads_and_writes_on_another_merchants_campaign_are_404(self, client, other):
        campaign = other["campaign"]
        path = f"/api/v1/campaigns/{campaign.pk}"
        assert_problem(client.get(path), 404, "not_found")
        assert_problem(client.patch(path, {"name": "mine"}, format="json"), 404, "not_found")
        assert_problem(client.put(path, BODY, format="json"), 404, "not_found")
        for action in ("submit", "pause", "resume", "end", "cancel", "duplicate"):
            assert_problem(post(client, f"{path}/{action}"), 404, "not_found")
        campaign.refresh_from_db()
        assert (campaign.status, campaign.name) == ("draft", other["campaign"].name)
        assert Campaign.objects.filter(merchant=campaign.merchant).count() == 1

    def test_another_merchants_store(self, client, other):
        path = f"/api/v1/stores/{other['store'].pk}"
        assert_problem(client.get(path), 404, "not_found")
        assert_problem(client.patch(path, {"active": False}, format="json"), 404, "not_found")
        assert Store.objects.get(pk=other["store"].pk).active

    def test_lists_show_only_own_data(self, client, merchant, other):
        mine = CampaignFactory(merchant=merchant)
        StoreFactory(merchant=merchant, code="MINE")
        campaigns = client.get("/api/v1/campaigns").json()["results"]
        assert [c["id"] for c in campaigns] == [str(mine.pk)]
        stores = client.get("/api/v1/stores").json()["results"]
        assert [s["code"] for s in stores] == ["MINE"]

    def test_campaign_cannot_name_another_merchants_store(self, client, other):
        body = copy.deepcopy(BODY) | {"stores": ["THEIRS"]}
        problem = assert_problem(post(client, "/api/v1/campaigns", body), 400, "validation_error")
        assert "stores" in problem["errors"]

    def test_bad_ids_are_404(self, client):
        for path in (
            "/api/v1/campaigns/not-a-uuid",
            "/api/v1/stores/abc",
            "/api/v1/stores/99999999",
        ):
            assert_problem(client.get(path), 404, "not_found")


class TestStores:
    def test_create_update_deactivate(self, client):
        response = post(client, "/api/v1/stores", {"code": "SH-01", "name": "Nanjing Road"})
        assert response.status_code == 201, response.content
        store = response.json()
        assert (store["code"], store["city"], store["active"]) == ("SH-01", "", True)
        path = f"/api/v1/stores/{store['id']}"
        assert client.patch(path, {"active": False}, format="json").json()["active"] is False
        dup = post(client, "/api/v1/stores", {"code": "SH-01", "name": "again"})
        assert "code" in assert_problem(dup, 400, "validation_error")["errors"]

    @pytest.mark.parametrize(
        "body",
        [
            {"code": "", "name": "x"},
            {"code": "A B", "name": "x"},
            {"code": "A1"},
            {"code": 5, "name": "x"},
        ],
    )
    def test_bad_store_input(self, client, body):
        assert_problem(post(client, "/api/v1/stores", body), 400, "validation_error")
        assert Store.objects.count() == 0


def test_list_filters_by_status_and_paginates(client, merchant):
    for status in ("draft", "approved", "approved"):
        CampaignFactory(merchant=merchant, status=status)
    approved = client.get("/api/v1/campaigns?status=approved").json()
    assert len(approved["results"]) == 2
    page = client.get("/api/v1/campaigns?page_size=1").json()
    assert len(page["results"]) == 1
    assert page["next"]


def test_openapi_schema_documents_every_endpoint_and_error():
    from django.test import Client

    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = schema["paths"]
    for path in (
        "/api/v1/campaigns",
        "/api/v1/campaigns/{id}",
        "/api/v1/campaigns/{id}/submit",
        "/api/v1/campaigns/{id}/duplicate",
        "/api/v1/stores",
        "/api/v1/stores/{id}",
    ):
        assert path in paths
    submit = paths["/api/v1/campaigns/{id}/submit"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "429"} <= set(submit)
    assert Client().get("/api/docs/").status_code == 200
