"""Operators' accounts: an ``admin``-group operator manages operators' accounts but cannot make
anyone (themselves included) superuser, give groups or permissions, or take over a superuser's or
a merchant member's account; a superuser still can do all of it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "Xx-very-long-pass-123"


def change_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def user_form(user, **overrides) -> dict:
    """What the user's change page posts, with ``overrides`` (checkboxes: "on" or absent)."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "last_login_0": "",
        "last_login_1": "",
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [],
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(overrides)
    return data


def set_password(client, user):  # type: ignore[no-untyped-def]
    return client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )


def test_an_admin_operator_cannot_make_themselves_superuser_or_grant_privileges(operator, client):
    op = operator("admin")
    client.force_login(op)
    page = client.get(change_url(op))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert {"is_superuser", "groups", "user_permissions"}.isdisjoint(form.fields)
    finance = Group.objects.get(name="finance")
    anything = Permission.objects.get(codename="change_permission")

    response = client.post(
        change_url(op),
        user_form(
            op,
            first_name="Ada",
            is_superuser="on",
            groups=[g.pk for g in op.groups.all()] + [finance.pk],
            user_permissions=[anything.pk],
        ),
    )

    assert response.status_code == 302  # the rest of the form saves
    op.refresh_from_db()
    assert op.first_name == "Ada"
    assert not op.is_superuser
    assert list(op.groups.values_list("name", flat=True)) == ["admin"]
    assert not op.user_permissions.exists()


def test_an_admin_operator_cannot_change_a_merchant_members_account(operator, client):
    op = operator("admin")
    owner = MembershipFactory().user
    client.force_login(op)

    assert set_password(client, owner).status_code == 403
    owner.refresh_from_db()
    assert not owner.check_password(NEW_PASSWORD)
    assert owner.check_password("correct horse battery staple")

    page = client.get(change_url(owner))
    assert page.status_code == 200  # shown, read-only
    assert b'name="email"' not in page.content
    response = client.post(change_url(owner), user_form(owner, email="thief@example.com"))
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.email != "thief@example.com"


def test_an_admin_operator_cannot_change_a_superusers_account(operator, client):
    op = operator("admin")
    root = operator(None)
    client.force_login(op)
    assert set_password(client, root).status_code == 403
    assert client.post(change_url(root), user_form(root, is_active="")).status_code == 403
    root.refresh_from_db()
    assert root.is_active and not root.check_password(NEW_PASSWORD)


def test_an_admin_operator_still_manages_other_operators_accounts(operator, client):
    op = operator("admin")
    colleague = UserFactory(username="new-operator")
    client.force_login(op)
    response = client.post(change_url(colleague), user_form(colleague, is_staff="on"))
    assert response.status_code == 302
    assert set_password(client, colleague).status_code == 302
    colleague.refresh_from_db()
    assert colleague.is_staff and colleague.check_password(NEW_PASSWORD)


def test_a_superuser_still_grants_privileges_and_resets_a_members_password(operator, client):
    root = operator(None)
    owner = MembershipFactory().user
    op = operator("admin")
    client.force_login(root)
    page = client.get(change_url(op))
    assert {"is_superuser", "groups", "user_permissions"} <= set(
        page.context["adminform"].form.fields
    )

    finance = Group.objects.get(name="finance")
    response = client.post(
        change_url(op),
        user_form(op, is_superuser="on", groups=[g.pk for g in op.groups.all()] + [finance.pk]),
    )
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.is_superuser
    assert set(op.groups.values_list("name", flat=True)) == {"admin", "finance"}

    assert set_password(client, owner).status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
