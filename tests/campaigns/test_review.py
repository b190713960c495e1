"""Operators review campaigns from the command line and the admin, through the same services."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from campaigns.models import Campaign
from tests.factories import CampaignFactory, UserFactory

pytestmark = pytest.mark.django_db


def review(*args):
    out = StringIO()
    call_command("campaign_review", *args, stdout=out)
    return json.loads(out.getvalue())


def test_approve_and_reject_from_the_command_line():
    first = CampaignFactory(status="submitted")
    assert review("--campaign", str(first.pk), "--approve") == {
        "id": str(first.pk),
        "status": "approved",
    }
    second = CampaignFactory(status="submitted")
    result = review("--campaign", str(second.pk), "--reject", "--reason", "Too broad")
    assert result["status"] == "rejected"
    second.refresh_from_db()
    assert second.rejection_reason == "Too broad"
    assert second.events.last().actor_kind == "operator"


@pytest.mark.parametrize(
    "args",
    [
        ["--campaign", "nope", "--approve"],
        ["--campaign", "00000000-0000-4000-8000-000000000000", "--approve"],
    ],
)
def test_unknown_campaign(args):
    with pytest.raises(CommandError, match="not_found"):
        review(*args)


def test_reject_without_reason_and_wrong_state_change_nothing():
    campaign = CampaignFactory(status="submitted")
    with pytest.raises(CommandError, match="validation_error"):
        review("--campaign", str(campaign.pk), "--reject")
    draft = CampaignFactory(status="draft")
    with pytest.raises(CommandError, match="invalid_transition"):
        review("--campaign", str(draft.pk), "--approve")
    assert set(Campaign.objects.values_list("status", flat=True)) == {"submitted", "draft"}


@pytest.fixture
def operator_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_queue_lists_submitted_first_and_approves(operator_client):
    CampaignFactory(status="draft", name="A draft")
    submitted = CampaignFactory(status="submitted", name="Needs review")
    page = operator_client.get("/admin/campaigns/campaign/")
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index("Needs review") < text.index("A draft")
    response = operator_client.post(
        "/admin/campaigns/campaign/",
        {"action": "approve", "_selected_action": [str(submitted.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    submitted.refresh_from_db()
    assert submitted.status == "approved"
    assert (
        operator_client.get(f"/admin/campaigns/campaign/{submitted.pk}/change/").status_code == 200
    )


def test_admin_reject_requires_a_reason(operator_client):
    submitted = CampaignFactory(status="submitted")
    form = operator_client.post(
        "/admin/campaigns/campaign/",
        {"action": "reject", "_selected_action": [str(submitted.pk)]},
    )
    assert form.status_code == 200
    assert b"reason" in form.content
    operator_client.post(
        "/admin/campaigns/campaign/",
        {"action": "reject", "_selected_action": [str(submitted.pk)], "apply": "1", "reason": ""},
    )
    submitted.refresh_from_db()
    assert submitted.status == "submitted"
    operator_client.post(
        "/admin/campaigns/campaign/",
        {
            "action": "reject",
            "_selected_action": [str(submitted.pk)],
            "apply": "1",
            "reason": "Budget too high for a new merchant",
        },
    )
    submitted.refresh_from_db()
    assert (submitted.status, submitted.rejection_reason) == (
        "rejected",
        "Budget too high for a new merchant",
    )


def test_admin_pages_render(operator_client):
    CampaignFactory()
    for path in (
        "/admin/",
        "/admin/merchants/merchant/",
        "/admin/merchants/store/",
        "/admin/installments/feetable/",
        "/admin/installments/platformsettings/",
        "/admin/installments/merchantfeeoverride/",
    ):
        assert operator_client.get(path).status_code == 200, path
