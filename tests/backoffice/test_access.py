"""Every page and action for every role (allowed, or 403), signed-out visitors, operators, and the
security headers every page carries."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.backoffice.conftest import ROLES
from tests.backoffice.pages import ACTIONS, PAGES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_every_page_for_every_role(world, client_as, page):
    answered = {
        role: client_as(world.users[role]).get(page.url(world.a)).status_code for role in ROLES
    }
    assert answered == {role: 200 if role in page.roles else 403 for role in ROLES}


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_every_action_for_every_role(world, client_as, action):
    # The roles refused go first, so a refusal is checked against a world nothing has changed yet.
    ordered = sorted(ROLES, key=lambda role: role in action.roles)
    answered = {
        role: client_as(world.users[role])
        .post(action.url(world.a), action.data(world.a))
        .status_code
        for role in ordered
    }
    assert answered == {role: action.ok_status if role in action.roles else 403 for role in ROLES}


def test_the_menu_shows_what_the_role_may_use(world, client_as):
    owner = client_as(world.users["owner"]).get("/").content.decode()
    viewer = client_as(world.users["viewer"]).get("/").content.decode()
    for path in ("/campaigns/", "/plans/", "/settlements/", "/stores/"):
        assert f'href="{path}"' in owner and f'href="{path}"' in viewer
    for path in ("/members/", "/api-keys/"):
        assert f'href="{path}"' in owner
        assert f'href="{path}"' not in viewer


def test_buttons_follow_the_role(world, client_as):
    plan_url = f"/plans/{world.a.plan.pk}/"
    assert 'name="refund_ref"' in client_as(world.users["finance"]).get(plan_url).content.decode()
    viewer_page = client_as(world.users["viewer"]).get(plan_url).content.decode()
    assert 'name="refund_ref"' not in viewer_page
    assert "Refunds are made by finance staff and owners." in viewer_page
    assert "/stores/new/" in client_as(world.users["owner"]).get("/stores/").content.decode()
    assert "/stores/new/" not in client_as(world.users["manager"]).get("/stores/").content.decode()


def test_a_signed_out_visitor_is_sent_to_sign_in_from_every_page(world):
    client = Client()
    for page in PAGES + ACTIONS:
        url = page.url(world.a)
        response = client.post(url) if page in ACTIONS else client.get(url)
        assert response.status_code == 302, page
        assert response["Location"].startswith("/accounts/login/?next="), page


def test_an_operator_without_membership_is_pointed_to_the_admin(world, client_as):
    response = client_as(world.operator).get("/")
    assert response.status_code == 403
    assert 'href="/admin/"' in response.content.decode()
    assert client_as(world.operator).get("/plans/").status_code == 403


def test_a_test_plan_cannot_be_refunded_from_the_page(world, client_as):
    client = client_as(world.users["owner"])
    page = client.get(f"/plans/{world.a.test_plan.pk}/").content.decode()
    assert 'name="refund_ref"' not in page
    response = client.post(
        f"/plans/{world.a.test_plan.pk}/refund/", {"amount": "1.00", "refund_ref": "T-1"}
    )
    assert response.status_code == 404


def test_actions_refuse_get(world, client_as):
    client = client_as(world.users["owner"])
    assert client.get(f"/plans/{world.a.plan.pk}/refund/").status_code == 405
    assert client.get(f"/api-keys/{world.a.api_key.pk}/revoke/").status_code == 405


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


def test_every_page_has_the_security_headers_and_nothing_inline(world, client_as):
    client = client_as(world.users["owner"])
    for page in PAGES:
        _check_headers(client.get(page.url(world.a)))


def _check_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    if response["Content-Type"].startswith("text/html"):
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html)
        assert not INLINE_STYLE.search(html)


def test_sign_in_and_error_pages_carry_the_policy_too(db):
    client = Client()
    for url in ("/accounts/login/", "/accounts/password-reset/", "/no-such-page/"):
        response = client.get(url)
        assert "default-src 'self'" in response["Content-Security-Policy"]
        assert not INLINE_SCRIPT.search(response.content.decode())


def test_admin_and_api_docs_allow_inline_styles_but_never_inline_scripts(db):
    for url in ("/admin/login/", "/api/docs/"):
        csp = Client().get(url)["Content-Security-Policy"]
        assert "style-src 'self' 'unsafe-inline'" in csp
        assert "script-src 'self';" in csp
    docs = Client().get("/api/docs/").content.decode()
    assert not INLINE_SCRIPT.search(docs)  # Swagger UI's start-up script is a file (?script)


def test_a_frozen_merchant_is_told_and_can_still_refund(world, client_as):
    from merchants.services import merchant_freeze

    merchant_freeze(merchant=world.a.merchant, reason="KYC review")
    client = client_as(world.users["finance"])
    assert b"This merchant is frozen by the platform" in client.get("/").content
    response = client.post(
        f"/plans/{world.a.plan.pk}/refund/", {"amount": "1.00", "refund_ref": "FROZEN-1"}
    )
    assert response.status_code == 302
    world.a.plan.refresh_from_db()
    assert world.a.plan.refunded_amount == 100


def test_a_csrf_failure_page_is_the_back_offices(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert b"The form expired" in response.content
    assert not INLINE_SCRIPT.search(response.content.decode())
