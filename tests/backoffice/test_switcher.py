"""A person in several merchants works for one at a time, chosen in the header (DESIGN.md §8)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_first_merchant_by_name_is_the_default_and_the_switch_changes_everything(
    world, client_as
):
    client = client_as(world.multi)
    page = client.get("/").content.decode()
    assert "<h1>Alpha Merchant</h1>" in page
    assert 'id="merchant-switch"' in page  # the switcher shows for people in several merchants
    assert client.get("/members/").status_code == 403  # a viewer at Alpha

    response = client.post(
        "/merchant/switch/", {"merchant": world.b.merchant.pk, "next": "/plans/"}
    )
    assert response.status_code == 302 and response["Location"] == "/plans/"
    plans = client.get("/plans/").content
    assert b"Beta-ORDER-OPEN" in plans and b"Alpha-ORDER" not in plans
    assert client.get("/members/").status_code == 200  # an owner at Beta
    # Alpha's ids are now another merchant's.
    assert client.get(f"/plans/{world.a.plan.pk}/").status_code == 404
    assert client.get(f"/plans/{world.b.plan.pk}/").status_code == 200


def test_switching_to_a_merchant_one_is_not_a_member_of_is_not_found(world, client_as):
    client = client_as(world.users["owner"])
    assert client.post("/merchant/switch/", {"merchant": world.b.merchant.pk}).status_code == 404
    assert client.post("/merchant/switch/", {"merchant": "not-a-uuid"}).status_code == 404
    assert b"Alpha Merchant" in client.get("/").content


def test_the_switch_never_redirects_off_site(world, client_as):
    client = client_as(world.multi)
    response = client.post(
        "/merchant/switch/", {"merchant": world.b.merchant.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_a_single_merchant_member_sees_no_switcher(world, client_as):
    page = client_as(world.users["viewer"]).get("/").content.decode()
    assert 'id="merchant-switch"' not in page
    assert "Alpha Merchant" in page


def test_losing_the_chosen_membership_falls_back_to_another_merchant(world, client_as):
    client = client_as(world.multi)
    client.post("/merchant/switch/", {"merchant": world.b.merchant.pk})
    world.multi.memberships.filter(merchant=world.b.merchant).delete()
    assert b"<h1>Alpha Merchant</h1>" in client.get("/").content
