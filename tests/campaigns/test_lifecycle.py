"""The campaign lifecycle of DESIGN.md §4: every cell of the transition table, every transition it
does not list, who may make each, and the audit trail of every change."""

from datetime import timedelta
from itertools import product

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignEvent
from campaigns.services import (
    Actor,
    campaign_approve,
    campaign_budget_raise_review,
    campaign_cancel,
    campaign_duplicate,
    campaign_end,
    campaign_input_from,
    campaign_pause,
    campaign_reject,
    campaign_reopen,
    campaign_submit,
    campaign_update,
    campaigns_end_due,
)
from merchants.errors import DomainError
from merchants.services import merchant_freeze
from tests.factories import CampaignFactory, UserFactory

pytestmark = pytest.mark.django_db

STATUSES = ["draft", "submitted", "approved", "rejected", "paused", "ended", "cancelled"]
ACTORS = ["merchant", "operator", "system"]

# DESIGN.md §4, written out independently of the code under test.
ALLOWED = {
    ("draft", "submitted", "merchant"),
    ("draft", "cancelled", "merchant"),
    ("submitted", "approved", "operator"),
    ("submitted", "approved", "system"),
    ("submitted", "rejected", "operator"),
    ("submitted", "cancelled", "merchant"),
    ("rejected", "draft", "merchant"),
    ("rejected", "cancelled", "merchant"),
    ("approved", "paused", "merchant"),
    ("approved", "ended", "merchant"),
    ("approved", "ended", "system"),
    ("approved", "cancelled", "merchant"),  # only before starts_at (see below)
    ("paused", "approved", "merchant"),
    ("paused", "ended", "merchant"),
    ("paused", "ended", "system"),
}

SERVICE_TO = {
    "draft": lambda c, a: campaign_reopen(campaign=c, actor=a),
    "submitted": lambda c, a: campaign_submit(campaign=c, actor=a),
    "approved": lambda c, a: campaign_approve(campaign=c, actor=a),
    "rejected": lambda c, a: campaign_reject(campaign=c, actor=a, reason="Scope too broad"),
    "paused": lambda c, a: campaign_pause(campaign=c, actor=a),
    "ended": lambda c, a: campaign_end(campaign=c, actor=a),
    "cancelled": lambda c, a: campaign_cancel(campaign=c, actor=a),
}


def actor(kind: str) -> Actor:
    user = UserFactory()
    return {
        "merchant": Actor.merchant_user(user),
        "operator": Actor.operator(user),
        "system": Actor.system("test job"),
    }[kind]


@pytest.mark.parametrize(("source", "target", "who"), list(product(STATUSES, STATUSES, ACTORS)))
def test_transition_table(source, target, who):
    # Above the auto-approval threshold, so submitting stays "submitted".
    campaign = CampaignFactory(status=source, budget_total=50_000_000)
    if (target, who) == ("ended", "system"):
        # The platform ends campaigns only once their window has closed.
        Campaign.objects.filter(pk=campaign.pk).update(
            starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now()
        )
        campaign.refresh_from_db()
    events_before = CampaignEvent.objects.count()
    if (source, target, who) in ALLOWED:
        result = SERVICE_TO[target](campaign, actor(who))
        assert result.status == target
        assert Campaign.objects.get(pk=campaign.pk).status == target
        event = CampaignEvent.objects.order_by("-id").first()
        assert event.before["status"] == source
        assert event.after["status"] == target
        assert event.actor_kind == who
    else:
        with pytest.raises(DomainError) as exc:
            SERVICE_TO[target](campaign, actor(who))
        assert exc.value.code == "invalid_transition"
        assert exc.value.status == 409
        assert Campaign.objects.get(pk=campaign.pk).status == source
        assert CampaignEvent.objects.count() == events_before


def test_approved_campaign_cannot_be_cancelled_once_started():
    campaign = CampaignFactory(status="approved", starts_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(DomainError) as exc:
        campaign_cancel(campaign=campaign, actor=actor("merchant"))
    assert exc.value.code == "invalid_transition"
    assert campaign_end(campaign=campaign, actor=actor("merchant")).status == "ended"


def test_submit_at_or_below_threshold_is_approved_at_once():
    at_threshold = CampaignFactory(budget_total=1_000_000)
    result = campaign_submit(campaign=at_threshold, actor=actor("merchant"))
    assert result.status == "approved"
    actions = list(at_threshold.events.values_list("action", "actor_kind"))
    assert actions == [("submitted", "merchant"), ("approved", "system")]

    above = CampaignFactory(budget_total=1_000_001)
    assert campaign_submit(campaign=above, actor=actor("merchant")).status == "submitted"


def test_reject_needs_a_reason_and_keeps_it():
    campaign = CampaignFactory(status="submitted", budget_total=50_000_000)
    with pytest.raises(DomainError) as exc:
        campaign_reject(campaign=campaign, actor=actor("operator"), reason="  ")
    assert exc.value.code == "validation_error"
    result = campaign_reject(campaign=campaign, actor=actor("operator"), reason="Window too long")
    assert result.rejection_reason == "Window too long"
    assert result.events.last().reason == "Window too long"


def test_frozen_merchant_cannot_change_campaigns():
    campaign = CampaignFactory(status="approved", budget_total=500_000)
    merchant_freeze(merchant=campaign.merchant, reason="review")
    for change in (campaign_pause, campaign_end):
        with pytest.raises(DomainError) as exc:
            change(campaign=campaign, actor=actor("merchant"))
        assert exc.value.code == "merchant_frozen"
    # The platform's own job still ends it when its window closes.
    Campaign.objects.filter(pk=campaign.pk).update(
        starts_at=timezone.now() - timedelta(days=1), ends_at=timezone.now()
    )
    assert campaign_end(campaign=campaign, actor=Actor.system("job")).status == "ended"


class TestEditing:
    def test_draft_edits_freely_and_is_audited(self):
        campaign = CampaignFactory()
        data = campaign_input_from(campaign)
        from dataclasses import replace

        updated = campaign_update(
            campaign=campaign,
            actor=actor("merchant"),
            data=replace(data, name="Renamed", budget_total=123_456, channels=["online"]),
        )
        assert (updated.name, updated.budget_total, updated.channels) == (
            "Renamed",
            123_456,
            ["online"],
        )
        event = updated.events.last()
        assert event.action == "updated"
        assert event.before["name"] != event.after["name"] == "Renamed"

    @pytest.mark.parametrize("status", ["submitted", "rejected", "ended", "cancelled"])
    def test_non_draft_non_live_cannot_be_edited(self, status):
        from dataclasses import replace

        campaign = CampaignFactory(status=status)
        with pytest.raises(DomainError) as exc:
            campaign_update(
                campaign=campaign,
                actor=actor("merchant"),
                data=replace(campaign_input_from(campaign), name="x"),
            )
        assert exc.value.code == "invalid_transition"

    @pytest.mark.parametrize("status", ["approved", "paused"])
    def test_after_approval_only_raise_budget_and_end_later(self, status):
        from dataclasses import replace

        campaign = CampaignFactory(status=status, budget_total=500_000)
        data = campaign_input_from(campaign)
        merchant = actor("merchant")
        for change in (
            {"name": "New name"},
            {"channels": ["online"]},
            {"daily_cap": 1000},
            {"starts_at": campaign.starts_at + timedelta(hours=1)},
        ):
            with pytest.raises(DomainError) as exc:
                campaign_update(campaign=campaign, actor=merchant, data=replace(data, **change))
            assert exc.value.code == "invalid_transition"
            assert set(exc.value.errors) == set(change)
        with pytest.raises(DomainError):
            campaign_update(campaign=campaign, actor=merchant, data=replace(data, budget_total=1))
        with pytest.raises(DomainError):
            earlier = campaign.ends_at - timedelta(hours=1)
            campaign_update(campaign=campaign, actor=merchant, data=replace(data, ends_at=earlier))

        later = campaign.ends_at + timedelta(days=3)
        result = campaign_update(
            campaign=campaign,
            actor=merchant,
            data=replace(data, ends_at=later, budget_total=900_000),
        )
        assert (result.ends_at, result.budget_total, result.pending_budget_total) == (
            later,
            900_000,
            None,
        )
        assert result.status == status

    def test_raise_above_threshold_waits_for_review_and_old_budget_keeps_running(self):
        from dataclasses import replace

        campaign = CampaignFactory(status="approved", budget_total=800_000)
        data = campaign_input_from(campaign)
        result = campaign_update(
            campaign=campaign, actor=actor("merchant"), data=replace(data, budget_total=3_000_000)
        )
        assert (result.status, result.budget_total, result.pending_budget_total) == (
            "approved",
            800_000,
            3_000_000,
        )
        with pytest.raises(DomainError):
            campaign_budget_raise_review(campaign=result, actor=actor("merchant"), approve=True)
        reviewed = campaign_budget_raise_review(
            campaign=result, actor=actor("operator"), approve=True
        )
        assert (reviewed.budget_total, reviewed.pending_budget_total) == (3_000_000, None)
        assert reviewed.events.last().action == "budget_raise_approved"


def test_duplicate_makes_a_draft_copy():
    source = CampaignFactory(status="ended", name="Singles' Day phones")
    copy = campaign_duplicate(campaign=source, actor=actor("merchant"))
    assert copy.pk != source.pk
    assert (copy.status, copy.name, copy.duplicated_from_id) == (
        "draft",
        "Copy of Singles' Day phones",
        source.pk,
    )
    assert [(o.term, o.merchant_share_bp) for o in copy.offers.all()] == [(12, 10000)]
    assert copy.events.get().action == "duplicated"


def test_end_of_window_job_is_idempotent():
    now = timezone.now()
    due = [
        CampaignFactory(
            status=s, starts_at=now - timedelta(days=3), ends_at=now - timedelta(seconds=1)
        )
        for s in ("approved", "paused")
    ]
    running = CampaignFactory(status="approved", starts_at=now - timedelta(days=1))
    draft_past = CampaignFactory(status="draft", starts_at=now - timedelta(days=3), ends_at=now)
    assert campaigns_end_due(now=now) == 2
    assert campaigns_end_due(now=now) == 0
    for campaign in due:
        campaign.refresh_from_db()
        assert campaign.status == "ended"
        assert campaign.events.last().actor_kind == "system"
    running.refresh_from_db()
    draft_past.refresh_from_db()
    assert (running.status, draft_past.status) == ("approved", "draft")
