"""Signing in and out, throttling, password reset, CSRF and the language (DESIGN.md §10)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client, override_settings

from backoffice.templatetags.backoffice import money_text
from tests.backoffice.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, username: str, password: str, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_sign_in_lands_on_the_dashboard_and_sign_out_needs_a_post(world):
    client = Client()
    assert client.get("/")["Location"] == "/accounts/login/?next=/"
    response = _sign_in(client, "alpha-owner", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(world):
    client = Client()
    response = client.post(
        "/accounts/login/?next=/plans/", {"username": "alpha-owner", "password": PASSWORD}
    )
    assert response["Location"] == "/plans/"
    other = Client()
    response = other.post(
        "/accounts/login/?next=https://evil.example/",
        {"username": "alpha-owner", "password": PASSWORD},
    )
    assert response["Location"] == "/"


def test_a_wrong_password_is_an_error_tied_to_the_form(world):
    response = _sign_in(Client(), "alpha-owner", "wrong")
    assert response.status_code == 200
    assert b"Please enter a correct username and password." in response.content
    assert b'role="alert"' in response.content


@override_settings(BACKOFFICE_LOGIN_MAX_FAILURES=3)
def test_sign_in_is_throttled_per_username_and_address(world):
    client = Client()
    for _ in range(3):
        assert _sign_in(client, "alpha-owner", "wrong").status_code == 200
    # Locked out: even the right password is refused, with 429 and Retry-After.
    response = _sign_in(client, "alpha-owner", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed sign-in attempts. Try again in 15 minutes." in response.content
    assert client.get("/").status_code == 302
    # Another username from the same address, and the same username from another address, are
    # not locked out.
    assert _sign_in(Client(), "alpha-viewer", PASSWORD).status_code == 302
    assert _sign_in(Client(), "alpha-owner", PASSWORD, REMOTE_ADDR="10.0.0.9").status_code == 302


@override_settings(BACKOFFICE_LOGIN_MAX_FAILURES=3)
def test_a_successful_sign_in_clears_the_failures(world):
    client = Client()
    _sign_in(client, "alpha-owner", "wrong")
    _sign_in(client, "alpha-owner", "wrong")
    assert _sign_in(client, "alpha-owner", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    _sign_in(client, "alpha-owner", "wrong")
    _sign_in(client, "alpha-owner", "wrong")
    assert _sign_in(client, "alpha-owner", PASSWORD).status_code == 302


@override_settings(BACKOFFICE_LOGIN_MAX_FAILURES=2, BACKOFFICE_LOGIN_LOCKOUT_SECONDS=60)
def test_the_lock_out_ends_with_its_window(world, monkeypatch):
    import time

    client = Client()
    _sign_in(client, "alpha-owner", "wrong")
    _sign_in(client, "alpha-owner", "wrong")
    assert _sign_in(client, "alpha-owner", PASSWORD).status_code == 429
    from django.core.cache import cache

    # The counters expire with the window; the cache forgetting them is what a minute does.
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    cache.clear()
    assert _sign_in(client, "alpha-owner", PASSWORD).status_code == 302


def test_password_reset_by_email(world):
    user = UserFactory(username="reset-me", email="reset.me@example.com")
    client = Client()
    response = client.post("/accounts/password-reset/", {"email": "reset.me@example.com"})
    assert response["Location"] == "/accounts/password-reset/sent/"
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
    assert "reset-me" in message.body
    form_url = client.get(link)["Location"]
    assert b"new_password1" in client.get(form_url).content
    response = client.post(
        form_url, {"new_password1": "brand-new-pass-2026", "new_password2": "brand-new-pass-2026"}
    )
    assert response["Location"] == "/accounts/reset/done/"
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-2026")
    # The link works once.
    assert b"This link has expired" in client.get(form_url).content


def test_password_reset_never_tells_whether_an_address_is_known(db):
    response = Client().post("/accounts/password-reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert not mail.outbox


@override_settings(BACKOFFICE_PASSWORD_RESET_MAX_REQUESTS=2)
def test_password_reset_requests_are_throttled(db):
    UserFactory(username="reset-me", email="reset.me@example.com")
    client = Client()
    for _ in range(2):
        client.post("/accounts/password-reset/", {"email": "reset.me@example.com"})
    response = client.post("/accounts/password-reset/", {"email": "reset.me@example.com"})
    assert response.status_code == 200
    assert b"Too many reset requests" in response.content
    assert len(mail.outbox) == 2


def test_password_change(world, client_as):
    client = client_as(world.users["viewer"])
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "changed-pass-2026",
            "new_password2": "changed-pass-2026",
        },
    )
    assert response["Location"] == "/accounts/password/done/"
    assert client.get("/").status_code == 200  # still signed in


def test_csrf_is_enforced_on_every_form(world):
    client = Client(enforce_csrf_checks=True)
    assert _sign_in(client, "alpha-owner", PASSWORD).status_code == 403  # no token
    page = client.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        "/accounts/login/",
        {"username": "alpha-owner", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    # Signed in, a POST without the token changes nothing.
    store = world.a.store
    assert client.post(f"/stores/{store.pk}/deactivate/").status_code == 403
    assert client.post("/api-keys/new/", {"mode": "test"}).status_code == 403
    store.refresh_from_db()
    assert store.active
    # With the token from the page, it does.
    page = client.get("/stores/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(f"/stores/{store.pk}/deactivate/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    store.refresh_from_db()
    assert not store.active


def test_the_language_follows_the_browser_until_the_user_picks_one(world, client_as):
    client = client_as(world.users["owner"])
    assert b'<html lang="en">' in client.get("/").content
    assert (
        b'<html lang="zh-hans">' in client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content
    )
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/plans/"})
    assert response["Location"] == "/plans/"
    # Picked: the browser's preference no longer decides.
    assert b'<html lang="en">' in client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert b'<html lang="zh-hans">' in client.get("/").content


def test_the_language_switcher_is_on_every_page(world, client_as):
    page = client_as(world.users["viewer"]).get("/").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'value="zh-hans"' in page
    assert 'action="/i18n/setlang/"' in Client().get("/accounts/login/").content.decode()


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (599_900, "CNY", "¥5,999.00"),
        (0, "CNY", "¥0.00"),
        (5, "CNY", "¥0.05"),
        (-123_456_789, "CNY", "-¥1,234,567.89"),
        (599_900, "JPY", "¥599,900"),
        (100, "USD", "$1.00"),
    ],
)
def test_amounts_are_formatted_exactly(amount, currency, text):
    assert money_text(amount, currency) == text


def test_amounts_are_formatted_in_chinese_too():
    from django.utils import translation

    with translation.override("zh-hans"):
        assert money_text(599_900, "CNY") == "¥5,999.00"
