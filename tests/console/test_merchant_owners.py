"""A merchant keeps at least one owner whatever admin page changes its members: the membership
page (change, delete, the delete action) and the merchant page's members inline go through the
membership services, and a refusal is an error message, never a 500 or a silent save."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from merchants.models import Membership
from tests.factories import MembershipFactory, MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db
OWNER_RULE = "must keep at least one owner"


def roles(merchant) -> list[str]:
    return sorted(Membership.objects.filter(merchant=merchant).values_list("role", flat=True))


def membership_url(membership, action: str = "change") -> str:
    return f"/admin/merchants/membership/{membership.pk}/{action}/"


def merchant_form(merchant, members: list[dict]) -> dict:
    """The merchant page's POST: its own fields, the members inline as given, the other inlines
    unchanged (stores, members, API keys and status events have no rows here)."""
    data = {
        "name": merchant.name,
        "legal_name": merchant.legal_name,
        "timezone": merchant.timezone,
        "paid_terms_disabled": "",
    }
    prefixes = {
        "memberships": members,
        "stores": [],
        "api_keys": [],
        "status_events": [],
    }
    for prefix, rows in prefixes.items():
        initial = sum(1 for row in rows if row.get("id"))
        data |= {
            f"{prefix}-TOTAL_FORMS": len(rows),
            f"{prefix}-INITIAL_FORMS": initial,
            f"{prefix}-MIN_NUM_FORMS": 0,
            f"{prefix}-MAX_NUM_FORMS": 1000,
        }
        for i, row in enumerate(rows):
            data |= {f"{prefix}-{i}-{key}": value for key, value in row.items()}
    return data


def member_row(membership, **changes) -> dict:
    return {
        "id": membership.pk,
        "merchant": membership.merchant_id,
        "user": membership.user_id,
        "role": membership.role,
    } | changes


@pytest.fixture
def shop():
    merchant = MerchantFactory()
    owner = MembershipFactory(merchant=merchant)
    return merchant, owner


def test_the_membership_page_refuses_to_demote_the_last_owner(shop, client_for):
    merchant, owner = shop
    client = client_for("admin")
    response = client.post(
        membership_url(owner),
        {"user": owner.user_id, "merchant": merchant.pk, "role": "viewer"},
    )
    assert response.status_code == 200
    assert OWNER_RULE in response.content.decode()
    assert roles(merchant) == ["owner"]


def test_the_membership_page_refuses_to_delete_the_last_owner(shop, client_for):
    merchant, owner = shop
    client = client_for("admin")
    response = client.post(membership_url(owner, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert response.url == membership_url(owner)
    assert OWNER_RULE in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert roles(merchant) == ["owner"]


def test_the_delete_action_removes_nothing_when_an_owner_would_be_lost(shop, client_for):
    merchant, owner = shop
    viewer = MembershipFactory(merchant=merchant, role="viewer")
    client = client_for("admin")
    response = client.post(
        "/admin/merchants/membership/",
        {"action": "delete_selected", "_selected_action": [owner.pk, viewer.pk], "post": "yes"},
    )
    assert response.status_code == 302
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Nothing was deleted" in text and OWNER_RULE in text
    assert roles(merchant) == ["owner", "viewer"]

    client.post(
        "/admin/merchants/membership/",
        {"action": "delete_selected", "_selected_action": [viewer.pk], "post": "yes"},
    )
    assert roles(merchant) == ["owner"]


def test_the_membership_page_still_changes_roles_and_removes_members(shop, client_for):
    merchant, owner = shop
    second = MembershipFactory(merchant=merchant, role="manager")
    client = client_for("admin")
    response = client.post(
        membership_url(second),
        {"user": second.user_id, "merchant": merchant.pk, "role": "owner"},
    )
    assert response.status_code == 302
    response = client.post(
        membership_url(owner),
        {"user": owner.user_id, "merchant": merchant.pk, "role": "finance"},
    )
    assert response.status_code == 302
    assert roles(merchant) == ["finance", "owner"]
    assert client.post(membership_url(owner, "delete"), {"post": "yes"}).status_code == 302
    assert roles(merchant) == ["owner"]


def test_a_membership_cannot_be_moved_to_another_user(shop, client_for):
    merchant, owner = shop
    someone = UserFactory()
    client = client_for("admin")
    response = client.post(
        membership_url(owner),
        {"user": someone.pk, "merchant": MerchantFactory().pk, "role": "owner"},
    )
    assert response.status_code == 302  # only the role is taken from the form
    owner.refresh_from_db()
    assert (owner.merchant_id, owner.user_id) == (merchant.pk, owner.user.pk)
    assert not Membership.objects.filter(user=someone).exists()


def test_the_merchant_page_refuses_to_demote_or_remove_the_last_owner(shop, client_for):
    merchant, owner = shop
    client = client_for("admin")
    url = f"/admin/merchants/merchant/{merchant.pk}/change/"

    demote = client.post(url, merchant_form(merchant, [member_row(owner, role="viewer")]))
    assert demote.status_code == 200
    assert OWNER_RULE in demote.content.decode()
    remove = client.post(url, merchant_form(merchant, [member_row(owner, DELETE="on")]))
    assert remove.status_code == 200
    assert OWNER_RULE in remove.content.decode()
    assert roles(merchant) == ["owner"]


def test_the_merchant_page_swaps_owners_in_one_save(shop, client_for):
    merchant, owner = shop
    successor = UserFactory()
    client = client_for("admin")
    url = f"/admin/merchants/merchant/{merchant.pk}/change/"
    response = client.post(
        url,
        merchant_form(
            merchant,
            [
                member_row(owner, DELETE="on"),
                {"merchant": merchant.pk, "user": successor.pk, "role": "owner"},
            ],
        ),
    )
    assert response.status_code == 302
    assert list(Membership.objects.filter(merchant=merchant).values_list("user", "role")) == [
        (successor.pk, "owner")
    ]
