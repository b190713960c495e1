"""The back office's forms: what they accept, the errors they show (tied to their fields), and
that they act through the same services as the API."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from campaigns.matching import Basket, BasketLine
from installments.plan_models import Plan, Refund
from installments.plans import plan_commit
from installments.quotes import quote_create
from merchants.models import ApiKey, Membership
from merchants.selectors import api_key_authenticate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _field_error(html: str, field: str) -> str | None:
    """The errors shown under a field, if the field is marked invalid and tied to them."""
    match = re.search(rf'<ul class="errors" id="id_{field}_errors">(.*?)</ul>', html, re.S)
    if match is None:
        return None
    widget = rf'<(?:input|select|textarea)\b[^>]*\bid="id_{field}(?:_\d+)?"[^>]*>'
    tags = [m.group(0) for m in re.finditer(widget, html)]
    assert tags, f"no widget for {field}"
    for tag in tags:
        assert 'aria-invalid="true"' in tag, f"{field} is not marked invalid"
        assert re.search(rf'aria-describedby="[^"]*\bid_{field}_errors\b', tag), tag
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip()


# -- Stores ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "This field is required."),
        ("-starts-with-dash", "starting with a letter or a digit"),
        ("has space", "starting with a letter or a digit"),
        ("店铺", "starting with a letter or a digit"),
        ("X" * 33, "at most 32 characters"),
    ],
)
def test_store_code_is_validated(world, client_as, code, message):
    response = client_as(world.users["owner"]).post("/stores/new/", {"code": code, "name": "N"})
    assert response.status_code == 200
    assert message in _field_error(response.content.decode(), "code")
    assert not world.a.merchant.stores.filter(name="N").exists()


def test_a_duplicate_store_code_is_an_error_on_the_code(world, client_as):
    client = client_as(world.users["owner"])
    response = client.post("/stores/new/", {"code": world.a.store.code, "name": "Twin"})
    assert "Another store already has this code." in _field_error(response.content.decode(), "code")
    other = world.a.merchant.stores.create(code="OTHER", name="Other")
    response = client.post(f"/stores/{other.pk}/", {"code": world.a.store.code, "name": "Other"})
    assert "Another store already has this code." in _field_error(response.content.decode(), "code")
    other.refresh_from_db()
    assert other.code == "OTHER"


def test_a_store_is_created_edited_deactivated_and_reactivated(world, client_as):
    client = client_as(world.users["owner"])
    response = client.post(
        "/stores/new/", {"code": "HZ-1", "name": " West Lake ", "city": "Hangzhou"}
    )
    assert response.status_code == 302
    store = world.a.merchant.stores.get(code="HZ-1")
    assert store.name == "West Lake" and store.active
    assert b"Store HZ-1 opened." in client.get("/stores/").content

    page = client.get(f"/stores/{store.pk}/").content.decode()
    assert 'value="HZ-1"' in page and 'value="West Lake"' in page
    client.post(f"/stores/{store.pk}/", {"code": "HZ-01", "name": "West Lake", "city": ""})
    store.refresh_from_db()
    assert (store.code, store.city) == ("HZ-01", "")

    client.post(f"/stores/{store.pk}/deactivate/")
    store.refresh_from_db()
    assert not store.active
    assert b"HZ-01" in client.get("/stores/?state=inactive").content
    assert b"HZ-01" not in client.get("/stores/?state=active").content
    client.post(f"/stores/{store.pk}/activate/")
    store.refresh_from_db()
    assert store.active


def test_store_list_searches_and_paginates(world, client_as):
    merchant = world.a.merchant
    for n in range(30):
        merchant.stores.create(code=f"P{n:02d}", name=f"Page store {n}", city="Suzhou")
    client = client_as(world.users["viewer"])
    first = client.get("/stores/").content.decode()
    assert "1–25 of 31" in first and 'rel="next"' in first
    second = client.get("/stores/?page=2").content.decode()
    assert "26–31 of 31" in second
    assert client.get("/stores/?page=99").status_code == 200  # the last page, not an error
    found = client.get("/stores/?q=suzhou").content.decode()
    assert "P00" in found and world.a.store.code not in found


# -- Members ---------------------------------------------------------------------------------------


def test_inviting_a_new_person_creates_them_and_emails_a_link_to_set_a_password(world, client_as):
    client = client_as(world.users["owner"])
    response = client.post("/members/invite/", {"email": "Mei.Lin@Example.com", "role": "finance"})
    assert response.status_code == 302
    membership = Membership.objects.get(
        merchant=world.a.merchant, user__email__iexact="Mei.Lin@Example.com"
    )
    assert membership.role == "finance"
    assert not membership.user.has_usable_password()
    (message,) = mail.outbox
    assert message.to == [membership.user.email]
    assert "Alpha Merchant" in message.subject
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    # The link lets them choose a password, then sign in and land on the merchant's dashboard.
    invited = Client()
    form_url = invited.get(link)["Location"]
    response = invited.post(
        form_url, {"new_password1": "a-long-new-pass-2026", "new_password2": "a-long-new-pass-2026"}
    )
    assert response.status_code == 302
    assert invited.login(username="mei.lin@example.com", password="a-long-new-pass-2026")
    page = invited.get("/")
    assert page.status_code == 200 and b"Alpha Merchant" in page.content
    assert invited.get("/members/").status_code == 403  # finance, not owner


def test_inviting_someone_with_an_account_adds_them_and_emails_a_sign_in_link(world, client_as):
    person = UserFactory(username="existing", email="existing@example.com")
    client_as(world.users["owner"]).post(
        "/members/invite/", {"email": "existing@example.com", "role": "manager"}
    )
    assert Membership.objects.get(merchant=world.a.merchant, user=person).role == "manager"
    assert "/accounts/login/" in mail.outbox[0].body
    assert "/accounts/reset/" not in mail.outbox[0].body


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not-an-address", "role": "viewer"}, "email", "valid email address"),
        ({"email": "", "role": "viewer"}, "email", "This field is required."),
        ({"email": "x@example.com", "role": "admin"}, "role", "Select a valid choice"),
        ({"email": "alpha-viewer@example.com", "role": "viewer"}, "email", "already a member"),
    ],
)
def test_invite_errors_are_shown_on_their_fields(world, client_as, data, field, message):
    response = client_as(world.users["owner"]).post("/members/invite/", data)
    assert response.status_code == 200
    assert message in _field_error(response.content.decode(), field)
    assert not mail.outbox


def test_roles_change_but_the_last_owner_stays_an_owner(world, client_as):
    client = client_as(world.users["owner"])
    viewer = Membership.objects.get(merchant=world.a.merchant, user=world.users["viewer"])
    client.post(f"/members/{viewer.pk}/role/", {"role": "finance"})
    viewer.refresh_from_db()
    assert viewer.role == "finance"

    owner = world.a.owner_membership
    response = client.post(f"/members/{owner.pk}/role/", {"role": "viewer"}, follow=True)
    assert b"A merchant must keep at least one owner." in response.content
    owner.refresh_from_db()
    assert owner.role == "owner"

    # With a second owner, the first may step down.
    client.post(f"/members/{viewer.pk}/role/", {"role": "owner"})
    client.post(f"/members/{owner.pk}/role/", {"role": "manager"})
    owner.refresh_from_db()
    assert owner.role == "manager"


def test_members_are_removed_but_never_the_last_owner(world, client_as):
    client = client_as(world.users["owner"])
    manager = Membership.objects.get(merchant=world.a.merchant, user=world.users["manager"])
    client.post(f"/members/{manager.pk}/remove/")
    assert not Membership.objects.filter(pk=manager.pk).exists()

    owner = world.a.owner_membership
    page = client.get("/members/").content.decode()
    assert "last owner" in page and f"/members/{owner.pk}/remove/" not in page
    response = client.post(f"/members/{owner.pk}/remove/", follow=True)
    assert b"A merchant must keep at least one owner." in response.content
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_owner_who_leaves_is_sent_to_their_next_merchant(world, client_as):
    # A second owner of Alpha, who is also Beta's owner.
    Membership.objects.filter(merchant=world.a.merchant, user=world.multi).update(role="owner")
    client = client_as(world.multi)
    mine = Membership.objects.get(merchant=world.a.merchant, user=world.multi)
    response = client.post(f"/members/{mine.pk}/remove/")
    assert response["Location"] == "/"
    assert b"<h1>Beta Merchant</h1>" in client.get("/").content


# -- API keys --------------------------------------------------------------------------------------


def _shown_key(html: str) -> str | None:
    match = re.search(r'<code id="new-key">([^<]+)</code>', html)
    return match.group(1) if match else None


def test_a_new_key_is_shown_once_and_works(world, client_as):
    client = client_as(world.users["owner"])
    response = client.post("/api-keys/new/", {"mode": "live", "name": "POS"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = _shown_key(response.content.decode())
    key = api_key_authenticate(raw_key=raw)
    assert key is not None and key.merchant_id == world.a.merchant.pk
    assert (key.mode, key.name, key.created_by_id) == ("live", "POS", world.users["owner"].pk)
    listing = client.get("/api-keys/").content.decode()
    assert key.prefix in listing and raw not in listing and _shown_key(listing) is None


def test_a_third_active_key_of_a_mode_is_refused(world, client_as):
    client = client_as(world.users["owner"])
    client.post("/api-keys/new/", {"mode": "live"})  # the second live key
    response = client.post("/api-keys/new/", {"mode": "live"})
    assert response.status_code == 200
    assert b"already holds two active keys of this mode" in response.content
    assert _shown_key(response.content.decode()) is None
    assert ApiKey.objects.filter(merchant=world.a.merchant, mode="live").count() == 2


def test_key_form_errors(world, client_as):
    response = client_as(world.users["owner"]).post("/api-keys/new/", {"mode": "prod", "name": ""})
    assert "Select a valid choice" in _field_error(response.content.decode(), "mode")


def test_rotation_keeps_the_old_key_working_until_it_is_revoked(world, client_as):
    client = client_as(world.users["owner"])
    old = world.a.api_key
    response = client.post(f"/api-keys/{old.pk}/rotate/")
    new = api_key_authenticate(raw_key=_shown_key(response.content.decode()))
    assert (new.mode, new.name) == (old.mode, old.name) and new.pk != old.pk
    old.refresh_from_db()
    assert old.revoked_at is None
    assert f"/api-keys/{old.pk}/revoke/" in response.content.decode()

    client.post(f"/api-keys/{old.pk}/revoke/")
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert b"Revoked keys" in client.get("/api-keys/").content
    # A revoked key cannot be rotated.
    response = client.post(f"/api-keys/{old.pk}/rotate/", follow=True)
    assert b"A revoked key cannot be rotated." in response.content


def test_rotation_can_revoke_the_old_key_at_once(world, client_as):
    client = client_as(world.users["owner"])
    client.post("/api-keys/new/", {"mode": "live"})  # two live keys: a plain rotation is refused
    old = world.a.api_key
    refused = client.post(f"/api-keys/{old.pk}/rotate/", follow=True)
    assert b"revoke one first" in refused.content
    response = client.post(f"/api-keys/{old.pk}/rotate/", {"revoke_old": "on"})
    assert _shown_key(response.content.decode())
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert (
        ApiKey.objects.filter(merchant=world.a.merchant, mode="live", revoked_at=None).count() == 2
    )


# -- Refunds ---------------------------------------------------------------------------------------


def test_a_refund_from_the_page_reprices_the_plan_like_the_api(world, client_as):
    plan = world.a.plan  # ¥5,999.00 over 12 months, fully free: subsidy ¥449.93
    client = client_as(world.users["finance"])
    response = client.post(
        f"/plans/{plan.pk}/refund/",
        {"amount": "1999.00", "refund_ref": "BO-1", "reason": "returned a case"},
    )
    assert response.status_code == 302 and response["Location"] == f"/plans/{plan.pk}/"
    plan.refresh_from_db()
    # The worked example of DESIGN.md §3.4: P' = 400000, M' = 30000, reversal 14993.
    assert (plan.financed_amount, plan.merchant_subsidy, plan.consumer_fee) == (400_000, 30_000, 0)
    refund = Refund.objects.get(plan=plan)
    assert (refund.amount, refund.subsidy_reversed, refund.reason) == (
        199_900,
        14_993,
        "returned a case",
    )
    page = client.get(f"/plans/{plan.pk}/").content.decode()
    assert "Refunded ¥1,999.00 (BO-1); ¥149.93 of subsidy went back to you." in page
    assert "BO-1" in page


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "6000.00"}, "amount", "More than what is left to refund (¥5,999.00)."),
        ({"amount": "0"}, "amount", "greater than or equal to 0.01"),
        ({"amount": "1.005"}, "amount", "no more than 2 decimal places"),
        ({"amount": "ten"}, "amount", "Enter a number."),
        ({"amount": ""}, "amount", "This field is required."),
        ({"refund_ref": ""}, "refund_ref", "This field is required."),
    ],
)
def test_refund_form_errors_are_shown_on_their_fields(world, client_as, data, field, message):
    plan = world.a.plan
    body = {"amount": "10.00", "refund_ref": "BO-ERR", "reason": ""} | data
    response = client_as(world.users["owner"]).post(f"/plans/{plan.pk}/refund/", body)
    assert response.status_code == 200
    assert message in _field_error(response.content.decode(), field)
    assert not Refund.objects.filter(plan=plan).exists()
    plan.refresh_from_db()
    assert plan.refunded_amount == 0


def test_a_refund_reference_already_used_is_an_error_on_the_reference(world, client_as):
    client = client_as(world.users["owner"])
    used = world.a.settled_plan.refunds.get().refund_ref
    response = client.post(
        f"/plans/{world.a.plan.pk}/refund/", {"amount": "1.00", "refund_ref": used}
    )
    assert "A refund with this reference already exists." in _field_error(
        response.content.decode(), "refund_ref"
    )
    # Submitting the same form twice refunds once.
    client.post(f"/plans/{world.a.plan.pk}/refund/", {"amount": "1.00", "refund_ref": "ONCE"})
    client.post(f"/plans/{world.a.plan.pk}/refund/", {"amount": "1.00", "refund_ref": "ONCE"})
    assert Refund.objects.filter(plan=world.a.plan).count() == 1


def test_refund_naming_returned_lines(world, client_as):

    merchant = world.a.merchant
    quote = quote_create(
        merchant=merchant,
        test=False,
        currency="CNY",
        basket=Basket(
            amount=619_800,
            lines=(BasketLine("LX-P70", "phones", 599_900), BasketLine("LX-CASE", "acc", 19_900)),
        ),
    )
    plan = plan_commit(
        merchant=merchant, test=False, quote_id=quote.quote_id, term=12, merchant_order_ref="LINES"
    )
    client = client_as(world.users["owner"])
    page = client.get(f"/plans/{plan.pk}/").content.decode()
    assert 'name="line_1"' in page and 'name="line_2"' in page
    over = client.post(
        f"/plans/{plan.pk}/refund/",
        {"amount": "199.00", "refund_ref": "L-1", "line_2": "199.01"},
    )
    assert "less than or equal to 199.00" in _field_error(over.content.decode(), "line_2")
    assert not Refund.objects.filter(plan=plan).exists()
    ok = client.post(
        f"/plans/{plan.pk}/refund/", {"amount": "199.00", "refund_ref": "L-2", "line_2": "199.00"}
    )
    assert ok.status_code == 302
    refund = Refund.objects.get(plan=plan)
    assert refund.lines == [{"sku": "LX-CASE", "amount": 19_900}]
    assert plan.lines.get(sku="LX-CASE").returned == 19_900
    # The returned line is fully returned: no field for it any more.
    assert 'name="line_2"' not in client.get(f"/plans/{plan.pk}/").content.decode()


def test_a_fully_refunded_plan_offers_no_refund_form(world, client_as):
    client = client_as(world.users["owner"])
    plan = world.a.plan
    client.post(f"/plans/{plan.pk}/refund/", {"amount": "5999.00", "refund_ref": "ALL"})
    plan.refresh_from_db()
    assert plan.status == "refunded"
    page = client.get(f"/plans/{plan.pk}/").content.decode()
    assert 'name="refund_ref"' not in page and "Fully refunded" in page
    response = client.post(f"/plans/{plan.pk}/refund/", {"amount": "1.00", "refund_ref": "MORE"})
    assert "More than what is left to refund (¥0.00)." in _field_error(
        response.content.decode(), "amount"
    )
    assert Plan.objects.get(pk=plan.pk).refunded_amount == 599_900
