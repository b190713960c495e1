"""The checkout flow through the API (DESIGN.md §3.4, §3.5, §6): quote, commit, refund, void."""

import uuid
import zoneinfo
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.matching import Basket
from campaigns.models import Campaign, CampaignDailyUsage
from installments.calculator import due_dates
from installments.idempotency import _lock_ids, idempotency_purge
from installments.ledger_models import LedgerEntry
from installments.plan_models import IdempotencyRecord, Plan
from installments.quotes import quote_create
from merchants.services import merchant_freeze
from tests.factories import CampaignFactory, OfferFactory

pytestmark = pytest.mark.django_db

PHONE = 599_900
PHONE_M = 44_993  # DESIGN §3.2, "phone, fully free"


@pytest.fixture
def campaign(merchant):
    now = timezone.now()
    return CampaignFactory(
        merchant=merchant,
        name="Phones free",
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=10),
        budget_total=10 * PHONE_M,
    )


@pytest.fixture
def client(merchant, api_client_for):
    return api_client_for(merchant)


def quote(client, **body):
    response = client.post(
        "/api/v1/quotes", {"currency": "CNY", "amount": PHONE, **body}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def commit(client, quote_id, term=12, ref=None, key=None):
    ref = ref or f"order-{uuid.uuid4()}"
    return client.post(
        "/api/v1/plans",
        {"quote_id": quote_id, "term": term, "merchant_order_ref": ref},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def refund(client, plan_id, amount, ref=None, key=None, **extra):
    return client.post(
        f"/api/v1/plans/{plan_id}/refunds",
        {"amount": amount, "refund_ref": ref or f"refund-{uuid.uuid4()}", **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )


def today_in(merchant):
    return timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(merchant.timezone)).date()


def test_quote_prices_every_term_with_the_best_campaign(client, campaign, merchant):
    body = quote(client)
    assert [o["term"] for o in body["options"]] == [3, 6, 12]
    assert body["financed_amount"] == PHONE and body["government_subsidy"] == 0
    twelve = body["options"][2]
    assert twelve["campaign"] == {"id": str(campaign.pk), "name": "Phones free"}
    assert (twelve["consumer_fee"], twelve["merchant_subsidy"]) == (0, PHONE_M)
    assert twelve["interest_free"] is True and twelve["apr"] == "0.00"
    assert twelve["total_payable"] == PHONE
    first_due = due_dates(purchase_date=today_in(merchant), term=12, statement_day=1, due_day=10)
    assert [p["due_date"] for p in twelve["schedule"]] == [d.isoformat() for d in first_due]
    assert [p["principal"] for p in twelve["schedule"]] == [49_999] + [49_991] * 11
    # The 3-term option has no campaign: the full consumer fee (2.30 %).
    three = body["options"][0]
    assert three["campaign"] is None and three["consumer_fee"] == 13_798
    assert sum(p["amount"] for p in three["schedule"]) == three["total_payable"]


def test_commit_reserves_budget_charges_the_ledger_and_snapshots_pricing(
    client, campaign, merchant
):
    body = quote(client)
    response = commit(client, body["quote_id"], ref="A-1")
    assert response.status_code == 201, response.json()
    plan = response.json()
    assert plan["status"] == "active" and plan["test"] is False
    assert plan["merchant_order_ref"] == "A-1"
    assert (plan["financed_amount"], plan["consumer_fee"], plan["merchant_subsidy"]) == (
        PHONE,
        0,
        PHONE_M,
    )
    assert plan["campaign"]["id"] == str(campaign.pk)
    assert plan["pricing"]["consumer_rate"] == "0.075"
    assert plan["pricing"]["merchant_share_bp"] == 10000
    campaign.refresh_from_db()
    assert campaign.budget_used == PHONE_M
    assert CampaignDailyUsage.objects.get(campaign=campaign, day=today_in(merchant)).used == PHONE_M
    entry = LedgerEntry.objects.get(plan_id=plan["id"])
    assert entry.kind == "charge" and entry.campaign_id == campaign.pk

    # Later edits never change a committed plan.
    Campaign.objects.filter(pk=campaign.pk).update(name="Renamed")
    again = client.get(f"/api/v1/plans/{plan['id']}").json()
    assert again["campaign"]["name"] == "Phones free"
    assert again["schedule"] == plan["schedule"]


def test_test_mode_prices_the_same_but_touches_no_budget_or_ledger(
    merchant, campaign, api_client_for
):
    test_client = api_client_for(merchant, mode="test")
    body = quote(test_client)
    response = commit(test_client, body["quote_id"])
    assert response.status_code == 201
    plan = response.json()
    assert plan["test"] is True and plan["merchant_subsidy"] == PHONE_M
    campaign.refresh_from_db()
    assert campaign.budget_used == 0
    assert not LedgerEntry.objects.filter(plan_id=plan["id"]).exists()
    # Refunds in test mode are priced the same and reverse nothing real.
    assert refund(test_client, plan["id"], 199_900).json()["subsidy_reversed"] == 14_993
    assert not LedgerEntry.objects.exists()


def test_an_expired_quote_is_410(client, campaign, merchant):
    stale = quote_create(
        merchant=merchant,
        test=False,
        currency="CNY",
        basket=Basket(amount=PHONE),
        now=timezone.now() - timedelta(minutes=15, seconds=1),
    )
    response = commit(client, stale.quote_id)
    assert response.status_code == 410 and response.json()["code"] == "quote_expired"
    assert not Plan.objects.exists()


def test_a_changed_offer_is_409_with_the_option_as_it_now_stands(client, campaign):
    body = quote(client)
    Campaign.objects.filter(pk=campaign.pk).update(status="paused")
    response = commit(client, body["quote_id"])
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "offer_changed"
    assert problem["option"]["campaign"] is None
    assert problem["option"]["consumer_fee"] == 44_993
    assert not Plan.objects.exists()


def test_budget_spent_between_quote_and_commit_is_offer_changed(client, campaign):
    body = quote(client)
    Campaign.objects.filter(pk=campaign.pk).update(budget_total=PHONE_M - 1)
    response = commit(client, body["quote_id"])
    assert response.status_code == 409 and response.json()["code"] == "offer_changed"
    assert response.json()["option"]["campaign"] is None


def test_duplicate_order_ref_is_409(client, campaign):
    body = quote(client)
    assert commit(client, body["quote_id"], ref="same").status_code == 201
    response = commit(client, body["quote_id"], ref="same")
    assert response.status_code == 409 and response.json()["code"] == "duplicate_order_ref"
    campaign.refresh_from_db()
    assert campaign.budget_used == PHONE_M


def test_a_term_the_quote_does_not_have_is_a_validation_error(client, campaign):
    body = quote(client)
    response = commit(client, body["quote_id"], term=24)
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_refund_worked_example_reverses_subsidy_to_the_charge_day(client, campaign, merchant):
    plan = commit(client, quote(client)["quote_id"]).json()
    response = refund(client, plan["id"], 199_900)
    assert response.status_code == 201
    body = response.json()
    assert body["subsidy_reversed"] == 14_993
    repriced = body["plan"]
    assert repriced["financed_amount"] == 400_000 and repriced["refunded_amount"] == 199_900
    assert repriced["merchant_subsidy"] == 30_000 and repriced["consumer_fee"] == 0
    assert [p["principal"] for p in repriced["schedule"]] == [33_337] + [33_333] * 11
    campaign.refresh_from_db()
    assert campaign.budget_used == 30_000
    assert CampaignDailyUsage.objects.get(campaign=campaign, day=today_in(merchant)).used == 30_000
    listed = client.get(f"/api/v1/plans/{plan['id']}/refunds").json()["results"]
    assert [r["amount"] for r in listed] == [199_900]


def test_refund_more_than_remains_is_422_and_full_refund_empties_the_plan(client, campaign):
    plan = commit(client, quote(client)["quote_id"]).json()
    assert refund(client, plan["id"], 100_000).status_code == 201
    too_much = refund(client, plan["id"], PHONE)
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "refund_exceeds_balance"
    final = refund(client, plan["id"], PHONE - 100_000).json()["plan"]
    assert final["status"] == "refunded" and final["schedule"] == []
    assert (final["consumer_fee"], final["merchant_subsidy"], final["apr"]) == (0, 0, "0.00")
    campaign.refresh_from_db()
    assert campaign.budget_used == 0


def test_duplicate_refund_ref_is_409(client, campaign):
    plan = commit(client, quote(client)["quote_id"]).json()
    assert refund(client, plan["id"], 1_000, ref="R-1").status_code == 201
    response = refund(client, plan["id"], 1_000, ref="R-1")
    assert response.status_code == 409 and response.json()["code"] == "duplicate_refund_ref"


def test_refund_naming_lines_lowers_the_eligible_amount(client, merchant):
    now = timezone.now()
    campaign = CampaignFactory(
        merchant=merchant,
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=5),
        all_products=False,
        categories=["phones"],
        offers=None,
    )
    OfferFactory(campaign=campaign, term=12, merchant_share_bp=5000)
    lines = [
        {"sku": "P70", "category": "phones", "amount": 500_000},
        {"sku": "CASE", "category": "accessories", "amount": 199_900},
    ]
    body = quote(client, amount=699_900, lines=lines)
    twelve = body["options"][2]
    # DESIGN §3.2 "half-cent, mixed basket, half share": W = M = 18750, C = 33743.
    assert (twelve["consumer_fee"], twelve["merchant_subsidy"]) == (33_743, 18_750)
    plan = commit(client, body["quote_id"]).json()
    assert [line["in_scope"] for line in plan["lines"]] == [True, False]
    # Returning the phone takes it out of L: nothing stays eligible.
    response = refund(client, plan["id"], 500_000, lines=[{"sku": "P70", "amount": 500_000}])
    assert response.status_code == 201
    assert response.json()["subsidy_reversed"] == 18_750
    assert response.json()["plan"]["eligible_amount"] == 0
    # A line the plan does not hold (or no longer holds) is refused and changes nothing.
    bad = refund(client, plan["id"], 1_000, lines=[{"sku": "P70", "amount": 1_000}])
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    assert Plan.objects.get(pk=plan["id"]).refunded_amount == 500_000


def test_void_within_24_hours_reverses_and_releases(client, campaign, merchant):
    plan = commit(client, quote(client)["quote_id"]).json()
    response = client.post(
        f"/api/v1/plans/{plan['id']}/void", format="json", HTTP_IDEMPOTENCY_KEY="void-1"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "voided" and response.json()["schedule"] == []
    campaign.refresh_from_db()
    assert campaign.budget_used == 0
    again = client.post(
        f"/api/v1/plans/{plan['id']}/void", format="json", HTTP_IDEMPOTENCY_KEY="void-2"
    )
    assert again.status_code == 409 and again.json()["code"] == "plan_not_voidable"


def test_void_after_24_hours_is_refused(client, campaign):
    plan = commit(client, quote(client)["quote_id"]).json()
    Plan.objects.filter(pk=plan["id"]).update(created_at=timezone.now() - timedelta(hours=25))
    response = client.post(
        f"/api/v1/plans/{plan['id']}/void", format="json", HTTP_IDEMPOTENCY_KEY="late"
    )
    assert response.status_code == 409 and response.json()["code"] == "plan_not_voidable"
    campaign.refresh_from_db()
    assert campaign.budget_used == PHONE_M


def test_per_consumer_limit_counts_plans_and_a_void_gives_one_back(client, merchant):
    now = timezone.now()
    CampaignFactory(
        merchant=merchant,
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=5),
        per_consumer_limit=1,
    )
    first = commit(client, quote(client, consumer_ref="c-1")["quote_id"]).json()
    assert first["campaign"] is not None
    second_quote = quote(client, consumer_ref="c-1")
    assert second_quote["options"][2]["campaign"] is None
    client.post(f"/api/v1/plans/{first['id']}/void", format="json", HTTP_IDEMPOTENCY_KEY="v")
    assert quote(client, consumer_ref="c-1")["options"][2]["campaign"] is not None


def test_list_filters_and_paginates(client, campaign):
    body = quote(client)
    ids = [commit(client, body["quote_id"], ref=f"L-{i}").json()["id"] for i in range(3)]
    client.post(f"/api/v1/plans/{ids[0]}/void", format="json", HTTP_IDEMPOTENCY_KEY="v-0")
    listed = client.get("/api/v1/plans", {"page_size": 2}).json()
    assert len(listed["results"]) == 2 and listed["next"]
    assert [p["id"] for p in client.get("/api/v1/plans?status=voided").json()["results"]] == [
        ids[0]
    ]
    by_ref = client.get("/api/v1/plans", {"merchant_order_ref": "L-2"}).json()["results"]
    assert [p["id"] for p in by_ref] == [ids[2]]
    by_campaign = client.get("/api/v1/plans", {"campaign": str(campaign.pk)}).json()["results"]
    assert len(by_campaign) == 3
    assert client.get("/api/v1/plans?status=bogus").status_code == 400
    assert client.get("/api/v1/plans?created_after=yesterday").status_code == 400


def test_replay_is_byte_identical_and_does_nothing_again(client, campaign):
    body = quote(client)
    first = commit(client, body["quote_id"], ref="R", key="k-1")
    second = commit(client, body["quote_id"], ref="R", key="k-1")
    assert second.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert Plan.objects.count() == 1
    reused = commit(client, body["quote_id"], ref="other", key="k-1")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"


def test_business_errors_are_stored_and_replayed(client, campaign):
    response = commit(client, "not-a-quote", ref="X", key="k-404")
    assert response.status_code == 404
    replay = commit(client, "not-a-quote", ref="X", key="k-404")
    assert replay.status_code == 404 and replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_a_request_still_running_is_409_in_use(merchant, api_client_for):
    """While another transaction holds the key's lock, the same key answers 409 and does nothing."""
    import psycopg

    client = api_client_for(merchant)
    ids = _lock_ids(str(merchant.pk), "live", "POST", "/api/v1/plans", "busy")
    settings = connection.settings_dict
    other = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        dbname=settings["NAME"],
        password=settings["PASSWORD"] or None,
    )
    try:
        with other.transaction():
            other.execute("SELECT pg_advisory_xact_lock(%s, %s)", ids)
            response = commit(client, "anything", key="busy")
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_in_use"
        assert not IdempotencyRecord.objects.exists()
    finally:
        other.close()


def test_stored_outcomes_are_purged_after_the_retention_period(client, campaign, settings):
    settings.IDEMPOTENCY_RETENTION_HOURS = 24
    commit(client, quote(client)["quote_id"], key="old")
    commit(client, quote(client)["quote_id"], key="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_frozen_merchant_cannot_quote_or_commit_but_can_refund_and_void(client, campaign, merchant):
    plan = commit(client, quote(client)["quote_id"]).json()
    body = quote(client)
    merchant_freeze(merchant=merchant, reason="chargebacks")
    response = client.post("/api/v1/quotes", {"currency": "CNY", "amount": PHONE}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "merchant_frozen"
    assert commit(client, body["quote_id"]).status_code == 403
    assert refund(client, plan["id"], 1_000).status_code == 201
    void = client.post(f"/api/v1/plans/{plan['id']}/void", format="json", HTTP_IDEMPOTENCY_KEY="f")
    assert void.status_code == 200
    assert client.get(f"/api/v1/plans/{plan['id']}").status_code == 200
