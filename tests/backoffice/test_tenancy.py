"""No page shows or changes another merchant's data (DESIGN.md §8): merchant B's ids are a 404 on
every page and action of A, B's objects are untouched, and A's lists and exports never show them."""

from __future__ import annotations

import pytest

from merchants.models import ApiKey, Membership
from tests.backoffice.pages import ACTIONS, PAGES

pytestmark = pytest.mark.django_db


def _b_state(world) -> dict:
    b = world.b
    b.plan.refresh_from_db()
    b.store.refresh_from_db()
    return {
        "plan": (b.plan.refunded_amount, b.plan.financed_amount, b.plan.refunds.count()),
        "store": (b.store.code, b.store.name, b.store.active),
        "key": ApiKey.objects.get(pk=b.api_key.pk).revoked_at,
        "keys": ApiKey.objects.filter(merchant=b.merchant).count(),
        "members": sorted(
            Membership.objects.filter(merchant=b.merchant).values_list("user_id", "role")
        ),
    }


@pytest.mark.parametrize("page", [p for p in PAGES if p.names_object], ids=str)
def test_another_merchants_id_is_not_found_on_every_page(world, client_as, page):
    assert client_as(world.users["owner"]).get(page.url(world.b)).status_code == 404


def test_another_merchants_id_is_not_found_on_every_action_and_changes_nothing(world, client_as):
    client = client_as(world.users["owner"])
    before = _b_state(world)
    for action in [a for a in ACTIONS if a.names_object]:
        response = client.post(action.url(world.b), action.data(world.b))
        assert response.status_code == 404, action
    assert _b_state(world) == before


def test_lists_and_exports_never_show_another_merchants_data(world, client_as):
    client = client_as(world.users["owner"])
    for page in PAGES:
        response = client.get(page.url(world.a))
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"Beta" not in body, page
        assert str(world.b.merchant.pk).encode() not in body, page
    # A's pages do show A's own objects (the check above is not vacuous).
    assert b"Alpha-ORDER-OPEN" in client.get("/plans/").content
    assert b"Alpha phones free" in client.get("/campaigns/").content
    assert b"Alpha-STORE" in client.get("/stores/").content


def test_filters_naming_another_merchants_campaign_show_nothing_of_it(world, client_as):
    client = client_as(world.users["owner"])
    response = client.get(f"/plans/?campaign={world.b.campaign.pk}")
    assert response.status_code == 200
    assert b"Beta" not in response.content
    assert b"Select a valid choice" in response.content
    export = b"".join(
        client.get(f"/plans/export/?campaign={world.b.campaign.pk}").streaming_content
    )
    assert b"Beta" not in export


def test_creating_a_store_with_a_code_another_merchant_uses_is_allowed(world, client_as):
    client = client_as(world.users["owner"])
    response = client.post("/stores/new/", {"code": world.b.store.code, "name": "Same code"})
    assert response.status_code == 302
    assert world.a.merchant.stores.filter(code=world.b.store.code).exists()
