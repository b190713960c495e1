"""The checkout API under real parallelism on PostgreSQL (DESIGN.md §5, §6): each thread is its own
client, connection and transaction, released together by a barrier. ``reconcile`` runs after each
test (conftest), so the ledger, budgets, plans and refunds must agree whatever the interleaving."""

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign
from installments.plan_models import Plan, PlanStatus, Refund
from merchants.services import api_key_create
from tests.factories import CampaignFactory, MerchantFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE, PHONE_M = 599_900, 44_993


def parallel(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads released together; return the results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # surfaced by the assertions below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    return results


@pytest.fixture
def setup():
    merchant = MerchantFactory()
    now = timezone.now()
    campaign = CampaignFactory(
        merchant=merchant,
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=5),
        budget_total=20 * PHONE_M,
    )
    raw_key = api_key_create(merchant=merchant, mode="live").raw_key
    return campaign, raw_key


def client_for(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def quote_id(raw_key: str) -> str:
    response = client_for(raw_key).post(
        "/api/v1/quotes", {"currency": "CNY", "amount": PHONE}, format="json"
    )
    return response.json()["quote_id"]


def post_plan(raw_key, quote, ref, key):
    return client_for(raw_key).post(
        "/api/v1/plans",
        {"quote_id": quote, "term": 12, "merchant_order_ref": ref},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_fifty_commits_on_a_budget_that_fits_twenty_make_exactly_twenty_plans(setup):
    campaign, raw_key = setup
    quote = quote_id(raw_key)
    responses = parallel(50, lambda i: post_plan(raw_key, quote, f"order-{i}", f"key-{i}"))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 20, 409: 30}, codes
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"offer_changed"}
    campaign.refresh_from_db()
    assert campaign.budget_used == 20 * PHONE_M == campaign.budget_total
    assert Plan.objects.filter(campaign=campaign).count() == 20


def test_twenty_identical_requests_with_one_key_make_one_plan(setup):
    campaign, raw_key = setup
    quote = quote_id(raw_key)
    responses = parallel(20, lambda i: post_plan(raw_key, quote, "same-order", "same-key"))
    created = [r for r in responses if r.status_code == 201]
    in_use = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_use) == 20
    assert {r.json()["code"] for r in in_use} <= {"idempotency_key_in_use"}
    fresh = [r for r in created if r.get("Idempotent-Replayed") != "true"]
    assert len(fresh) == 1
    assert all(r.content == fresh[0].content for r in created)
    assert Plan.objects.count() == 1
    campaign.refresh_from_db()
    assert campaign.budget_used == PHONE_M


def test_parallel_refunds_never_refund_more_than_the_principal(setup):
    _campaign, raw_key = setup
    plan = post_plan(raw_key, quote_id(raw_key), "R", "k").json()
    part = 200_000  # two fit in 599,900, a third does not

    def refund(i):
        return client_for(raw_key).post(
            f"/api/v1/plans/{plan['id']}/refunds",
            {"amount": part, "refund_ref": f"refund-{i}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"refund-key-{i}",
        )

    responses = parallel(12, refund)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 2, 422: 10}, codes
    stored = Plan.objects.get(pk=plan["id"])
    assert (
        stored.refunded_amount == 2 * part == sum(Refund.objects.values_list("amount", flat=True))
    )
    assert stored.refunded_amount <= stored.original_financed_amount


def test_a_void_racing_a_refund_leaves_one_consistent_outcome(setup):
    campaign, raw_key = setup
    for round_ in range(5):
        plan = post_plan(raw_key, quote_id(raw_key), f"VR-{round_}", f"vr-{round_}").json()

        def act(i, plan_id=plan["id"], round_=round_):
            client = client_for(raw_key)
            if i == 0:
                return client.post(
                    f"/api/v1/plans/{plan_id}/void",
                    format="json",
                    HTTP_IDEMPOTENCY_KEY=f"void-{round_}",
                )
            return client.post(
                f"/api/v1/plans/{plan_id}/refunds",
                {"amount": PHONE, "refund_ref": f"full-{round_}"},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"refund-{round_}",
            )

        void, full_refund = parallel(2, act)
        stored = Plan.objects.get(pk=plan["id"])
        # Exactly one of them won; the other saw the winner's outcome.
        if void.status_code == 200:
            assert stored.status == PlanStatus.VOIDED
            assert full_refund.status_code == 422
        else:
            assert void.status_code == 409 and void.json()["code"] == "plan_not_voidable"
            assert full_refund.status_code == 201 and stored.status == PlanStatus.REFUNDED
    campaign.refresh_from_db()
    assert campaign.budget_used == 0


def test_a_hot_campaign_ends_mid_race_without_a_single_charge_after_it(setup):
    """Commits racing the merchant ending the campaign: none is charged once it ended."""
    campaign, raw_key = setup
    Campaign.objects.filter(pk=campaign.pk).update(budget_total=1_000 * PHONE_M)
    quote = quote_id(raw_key)

    def act(i):
        if i == 0:
            return Campaign.objects.filter(pk=campaign.pk).update(status="ended")
        return post_plan(raw_key, quote, f"E-{i}", f"e-{i}")

    results = parallel(30, act)
    responses = results[1:]
    assert all(r.status_code in (201, 409) for r in responses)
    campaign.refresh_from_db()
    charged = Plan.objects.filter(campaign=campaign).count()
    assert campaign.budget_used == charged * PHONE_M
    assert charged == sum(r.status_code == 201 for r in responses)


def test_commits_for_other_merchants_do_not_share_a_budget(setup):
    """Tenancy under load: two merchants' parallel commits touch only their own campaign."""
    campaign, raw_key = setup
    other = MerchantFactory()
    now = timezone.now()
    other_campaign = CampaignFactory(
        merchant=other,
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=5),
        budget_total=5 * PHONE_M,
    )
    other_key = api_key_create(merchant=other, mode="live").raw_key
    quotes = {raw_key: quote_id(raw_key), other_key: quote_id(other_key)}

    def act(i):
        key = raw_key if i % 2 else other_key
        return post_plan(key, quotes[key], f"T-{i}-{uuid.uuid4()}", f"t-{i}")

    parallel(20, act)
    campaign.refresh_from_db()
    other_campaign.refresh_from_db()
    assert campaign.budget_used == 10 * PHONE_M
    assert other_campaign.budget_used == 5 * PHONE_M
    assert Plan.objects.filter(merchant=other, campaign=other_campaign).count() == 5
