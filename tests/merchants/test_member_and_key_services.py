"""The services the back office added for members and API keys: invite, role change, rotate."""

from __future__ import annotations

import pytest
from django.core import mail

from merchants.errors import DomainError
from merchants.models import ApiKey, Membership
from merchants.services import (
    api_key_create,
    api_key_rotate,
    membership_invite,
    membership_role_change,
)
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_invite_creates_a_user_without_a_password_and_emails_a_set_password_link(merchant):
    invitation = membership_invite(
        merchant=merchant, email=" li.na@example.com ", role="viewer", site_url="https://bo.test"
    )
    user = invitation.membership.user
    assert invitation.needs_password and invitation.emailed
    assert (user.username, user.email, user.has_usable_password()) == (
        "li.na@example.com",
        "li.na@example.com",
        False,
    )
    assert "https://bo.test/accounts/reset/" in mail.outbox[0].body


def test_invite_refuses_an_existing_member_and_an_unknown_role(merchant):
    member = MembershipFactory(merchant=merchant, role="viewer").user
    with pytest.raises(DomainError) as refused:
        membership_invite(merchant=merchant, email=member.email.upper(), role="owner")
    assert refused.value.errors == {"email": ["This person is already a member."]}
    with pytest.raises(DomainError):
        membership_invite(merchant=merchant, email="x@example.com", role="boss")
    assert Membership.objects.get(merchant=merchant, user=member).role == "viewer"
    assert not mail.outbox


def test_a_failed_invitation_email_keeps_the_membership_and_says_so(merchant, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr("merchants.services.send_mail", broken)
    invitation = membership_invite(merchant=merchant, email="z@example.com", role="finance")
    assert not invitation.emailed
    assert Membership.objects.filter(pk=invitation.membership.pk).exists()


def test_role_change_keeps_the_last_owner(merchant):
    owner = MembershipFactory(merchant=merchant, role="owner")
    with pytest.raises(DomainError) as refused:
        membership_role_change(merchant=merchant, membership_id=owner.pk, role="viewer")
    assert refused.value.code == "invalid_transition"
    second = MembershipFactory(merchant=merchant, role="finance")
    membership_role_change(merchant=merchant, membership_id=second.pk, role="owner")
    membership_role_change(merchant=merchant, membership_id=owner.pk, role="viewer")
    owner.refresh_from_db()
    assert owner.role == "viewer"


def test_role_change_of_another_merchants_member_is_not_found(merchant):
    elsewhere = MembershipFactory(role="viewer")
    with pytest.raises(DomainError) as refused:
        membership_role_change(merchant=merchant, membership_id=elsewhere.pk, role="owner")
    assert refused.value.code == "not_found"
    elsewhere.refresh_from_db()
    assert elsewhere.role == "viewer"


def test_rotate_issues_a_successor_and_can_revoke_the_old_key_first(merchant):
    user = UserFactory()
    first = api_key_create(merchant=merchant, mode="live", name="POS").api_key
    second = api_key_rotate(api_key=first, created_by=user).api_key
    assert (second.mode, second.name, second.created_by_id) == ("live", "POS", user.pk)
    first.refresh_from_db()
    assert first.revoked_at is None
    with pytest.raises(DomainError):  # two live keys already
        api_key_rotate(api_key=first)
    third = api_key_rotate(api_key=first, revoke_old=True).api_key
    first.refresh_from_db()
    assert first.revoked_at is not None
    active = ApiKey.objects.filter(merchant=merchant, mode="live", revoked_at=None)
    assert set(active.values_list("pk", flat=True)) == {second.pk, third.pk}
    with pytest.raises(DomainError) as refused:
        api_key_rotate(api_key=first)
    assert refused.value.message == "A revoked key cannot be rotated."
