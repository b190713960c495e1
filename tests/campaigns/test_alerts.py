"""Budget alerts (DESIGN.md §4, §5): crossing the alert threshold records one notice and sends one
e-mail, so does the first refusal for lack of budget; raising the budget re-arms both; a periodic
sweep catches what a lost task missed. And the "budget spent" shown state those alerts speak of."""

import dataclasses
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from campaigns.alerts import alert_budget_refused, alert_email_send, alerts_sweep
from campaigns.budgets import budget_charge
from campaigns.models import Campaign, CampaignAlert
from campaigns.selectors import ShownState, campaign_shown_state
from campaigns.services import (
    Actor,
    campaign_budget_raise_review,
    campaign_input_from,
    campaign_update,
)
from config.celery_app import app as celery_app
from tests.factories import CampaignFactory, MembershipFactory, OfferFactory, UserFactory

pytestmark = pytest.mark.django_db

THRESHOLD = CampaignAlert.Kind.THRESHOLD
REFUSED = CampaignAlert.Kind.BUDGET_REFUSED


@pytest.fixture(autouse=True)
def _tasks_run_in_process(monkeypatch):
    """The e-mail task runs in-process, whatever broker the environment names."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.fixture
def run_after_commit(django_capture_on_commit_callbacks):
    """``with run_after_commit(): ...`` runs what the block scheduled for after commit (the
    e-mail task), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def live_campaign(*, offers=((12, 10_000, 0),), **fields):
    now = timezone.now()
    fields.setdefault("starts_at", now - timedelta(days=1))
    fields.setdefault("ends_at", now + timedelta(days=30))
    fields.setdefault("status", "approved")
    campaign = CampaignFactory(offers=None, **fields)
    for term, share, minimum in offers:
        OfferFactory(campaign=campaign, term=term, merchant_share_bp=share, min_amount=minimum)
    return campaign


def charge(campaign, amount):
    return budget_charge(campaign=campaign, amount=amount, plan_id=None, charged_at=timezone.now())


def alerts(campaign, kind=None):
    found = CampaignAlert.objects.filter(campaign=campaign).order_by("arm", "kind")
    return list(found.filter(kind=kind) if kind else found)


def raise_budget(campaign, new_total):
    """The merchant raises the budget of an approved campaign (§4)."""
    data = dataclasses.replace(campaign_input_from(campaign), budget_total=new_total)
    return campaign_update(campaign=campaign, actor=Actor.merchant_user(UserFactory()), data=data)


# --------------------------------------------------------------------------------------------------
# The alert threshold


def test_threshold_notice_and_email_once_when_crossed(run_after_commit):
    campaign = live_campaign(budget_total=100_000, alert_emails=["ops@shop.example"])

    with run_after_commit():
        charge(campaign, 79_999)  # 79.99 %: not yet
    assert alerts(campaign) == []
    assert mail.outbox == []

    with run_after_commit():
        charge(campaign, 1)  # 80.00 %: the default threshold
    [notice] = alerts(campaign)
    assert notice.kind == THRESHOLD
    assert (notice.budget_total, notice.budget_used, notice.arm) == (100_000, 80_000, 0)
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ops@shop.example"]
    assert campaign.name in email.subject
    assert "80%" in email.subject
    assert "Remaining: 20000" in email.body
    notice.refresh_from_db()
    assert notice.emailed_at is not None
    assert notice.recipients == ["ops@shop.example"]

    # Further charges in the same arming record and send nothing more.
    with run_after_commit():
        charge(campaign, 10_000)
        charge(campaign, 10_000)
    assert len(alerts(campaign)) == 1
    assert len(mail.outbox) == 1


def test_a_custom_threshold_is_honoured(run_after_commit):
    campaign = live_campaign(budget_total=100_000, alert_threshold_bp=5_000)
    with run_after_commit():
        charge(campaign, 49_999)
    assert alerts(campaign) == []
    with run_after_commit():
        charge(campaign, 1)
    assert [a.kind for a in alerts(campaign)] == [THRESHOLD]


def test_a_single_charge_jumping_past_the_threshold_records_it(run_after_commit):
    campaign = live_campaign(budget_total=100_000, alert_emails=["ops@shop.example"])
    with run_after_commit():
        charge(campaign, 95_000)
    [notice] = alerts(campaign)
    assert notice.budget_used == 95_000
    assert len(mail.outbox) == 1


def test_without_alert_emails_the_owners_are_told(run_after_commit):
    campaign = live_campaign(budget_total=100_000)
    merchant = campaign.merchant
    MembershipFactory(merchant=merchant, user=UserFactory(email="zoe@shop.example"))
    MembershipFactory(merchant=merchant, user=UserFactory(email="amy@shop.example"))
    MembershipFactory(merchant=merchant, user=UserFactory(email=""))  # an owner with no address
    MembershipFactory(merchant=merchant, user=UserFactory(email="mgr@shop.example"), role="manager")
    # Another merchant's owner hears nothing.
    MembershipFactory(user=UserFactory(email="stranger@other.example"))

    with run_after_commit():
        charge(campaign, 80_000)
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["amy@shop.example", "zoe@shop.example"]


def test_the_email_is_sent_once_even_if_the_task_runs_twice(run_after_commit):
    campaign = live_campaign(budget_total=100_000, alert_emails=["ops@shop.example"])
    with run_after_commit():
        charge(campaign, 80_000)
    [notice] = alerts(campaign)
    assert alert_email_send(alert_id=notice.pk) is False  # a redelivered task
    assert len(mail.outbox) == 1


def test_a_rolled_back_checkout_leaves_no_notice_and_sends_nothing(run_after_commit):
    campaign = live_campaign(budget_total=100_000, alert_emails=["ops@shop.example"])
    with run_after_commit(), pytest.raises(RuntimeError), transaction.atomic():
        charge(campaign, 80_000)
        raise RuntimeError("the plan could not be created")
    assert alerts(campaign) == []
    assert mail.outbox == []

    with run_after_commit():
        charge(campaign, 80_000)  # the crossing that really happened is still noticed
    assert len(alerts(campaign)) == 1
    assert len(mail.outbox) == 1


def test_a_refused_charge_records_no_threshold_notice():
    from campaigns.budgets import BudgetRefused

    campaign = live_campaign(budget_total=100_000)
    with pytest.raises(BudgetRefused):
        charge(campaign, 100_001)
    assert alerts(campaign) == []
    campaign.refresh_from_db()
    assert campaign.budget_used == 0


# --------------------------------------------------------------------------------------------------
# Raises re-arm


def test_a_raise_re_arms_the_threshold(run_after_commit):
    campaign = live_campaign(budget_total=100_000, alert_emails=["ops@shop.example"])
    with run_after_commit():
        charge(campaign, 80_000)
    assert len(alerts(campaign)) == 1

    # Within the auto-approval threshold (¥10,000.00): applied at once.
    raise_budget(campaign, 200_000)
    campaign.refresh_from_db()
    assert campaign.budget_total == 200_000

    with run_after_commit():
        charge(campaign, 79_999)  # 159,999 of 200,000: below 80 % again
    assert len(alerts(campaign)) == 1
    with run_after_commit():
        charge(campaign, 1)  # 160,000 of 200,000: crossed in the new arming
    first, second = alerts(campaign, THRESHOLD)
    assert (second.budget_total, second.budget_used) == (200_000, 160_000)
    assert second.arm > first.arm
    assert len(mail.outbox) == 2


def test_a_pending_raise_does_not_re_arm_until_an_operator_approves_it(run_after_commit):
    campaign = live_campaign(budget_total=1_000_000)
    with run_after_commit():
        charge(campaign, 800_000)
    assert len(alerts(campaign)) == 1
    assert alert_budget_refused(merchant_id=campaign.merchant_id, campaign_id=campaign.pk)

    raise_budget(campaign, 5_000_000)  # above the threshold: waits for review
    campaign.refresh_from_db()
    assert (campaign.budget_total, campaign.pending_budget_total) == (1_000_000, 5_000_000)
    with run_after_commit():
        charge(campaign, 100_000)
    assert alert_budget_refused(merchant_id=campaign.merchant_id, campaign_id=campaign.pk) is None
    assert len(alerts(campaign)) == 2  # still one of each

    campaign_budget_raise_review(
        campaign=campaign, actor=Actor.operator(UserFactory()), approve=True
    )
    with run_after_commit():
        charge(campaign, 3_100_000)  # 4,000,000 of 5,000,000
    assert len(alerts(campaign, THRESHOLD)) == 2
    assert alert_budget_refused(merchant_id=campaign.merchant_id, campaign_id=campaign.pk)
    assert len(alerts(campaign, REFUSED)) == 2


def test_a_rejected_raise_does_not_re_arm(run_after_commit):
    campaign = live_campaign(budget_total=1_000_000)
    with run_after_commit():
        charge(campaign, 800_000)
    raise_budget(campaign, 5_000_000)
    campaign_budget_raise_review(
        campaign=campaign, actor=Actor.operator(UserFactory()), approve=False, reason="No"
    )
    with run_after_commit():
        charge(campaign, 100_000)
    assert len(alerts(campaign, THRESHOLD)) == 1


# --------------------------------------------------------------------------------------------------
# The first refusal for lack of budget


def test_budget_refused_notice_once_per_arming(run_after_commit):
    campaign = live_campaign(budget_total=50_000, alert_emails=["ops@shop.example"])
    ids = {"merchant_id": campaign.merchant_id, "campaign_id": campaign.pk}

    with run_after_commit():
        first = alert_budget_refused(**ids)
        again = alert_budget_refused(**ids)
    assert first is not None and first.kind == REFUSED
    assert again is None
    assert len(alerts(campaign, REFUSED)) == 1
    assert len(mail.outbox) == 1
    assert "out of budget" in mail.outbox[0].subject

    raise_budget(campaign, 60_000)
    with run_after_commit():
        rearmed = alert_budget_refused(**ids)
        assert alert_budget_refused(**ids) is None
    assert rearmed is not None and rearmed.arm > first.arm
    assert len(alerts(campaign, REFUSED)) == 2
    assert len(mail.outbox) == 2


def test_a_refusal_notice_does_not_use_up_the_threshold_notice(run_after_commit):
    campaign = live_campaign(budget_total=100_000)
    alert_budget_refused(merchant_id=campaign.merchant_id, campaign_id=campaign.pk)
    with run_after_commit():
        charge(campaign, 80_000)
    assert sorted(a.kind for a in alerts(campaign)) == [REFUSED, THRESHOLD]


def test_another_merchant_cannot_record_a_notice_on_this_campaign():
    campaign = live_campaign(budget_total=50_000)
    stranger = CampaignFactory().merchant
    assert alert_budget_refused(merchant_id=stranger.pk, campaign_id=campaign.pk) is None
    assert alerts(campaign) == []


# --------------------------------------------------------------------------------------------------
# The sweep


def test_the_sweep_sends_an_email_whose_task_was_lost():
    campaign = live_campaign(budget_total=100_000)
    MembershipFactory(merchant=campaign.merchant, user=UserFactory(email="owner@shop.example"))
    lost = CampaignAlert.objects.create(
        merchant=campaign.merchant,
        campaign=campaign,
        kind=THRESHOLD,
        arm=0,
        budget_total=100_000,
        budget_used=85_000,
    )
    Campaign.objects.filter(pk=campaign.pk).update(threshold_alert_arm=0)
    CampaignAlert.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )
    # A notice recorded a moment ago may still have its task in flight: not the sweep's yet.
    fresh = CampaignAlert.objects.create(
        merchant=campaign.merchant,
        campaign=campaign,
        kind=REFUSED,
        arm=0,
        budget_total=100_000,
        budget_used=85_000,
    )
    Campaign.objects.filter(pk=campaign.pk).update(refusal_alert_arm=0)

    assert alerts_sweep()["sent"] == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@shop.example"]
    assert "85%" in mail.outbox[0].subject
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.emailed_at is not None and lost.recipients == ["owner@shop.example"]
    assert fresh.emailed_at is None

    # Run again: nothing is sent twice.
    assert alerts_sweep()["sent"] == 0
    assert len(mail.outbox) == 1
    # Once the fresh one is old enough, it goes too.
    assert alerts_sweep(now=timezone.now() + timedelta(minutes=2))["sent"] == 1
    assert len(mail.outbox) == 2


def test_the_sweep_records_a_threshold_notice_a_failed_recording_missed():
    campaign = live_campaign(budget_total=100_000)
    charge(campaign, 80_000)
    CampaignAlert.objects.filter(campaign=campaign).delete()
    Campaign.objects.filter(pk=campaign.pk).update(threshold_alert_arm=None)

    assert alerts_sweep()["recorded"] == 1
    [notice] = alerts(campaign, THRESHOLD)
    assert notice.budget_used == 80_000
    assert alerts_sweep()["recorded"] == 0


def test_the_sweep_records_a_refusal_for_a_live_campaign_whose_budget_is_spent():
    # Smallest M: 12 terms fully free at the term's minimum ¥100.00 = R(10000 × .075) = 750.
    spent = live_campaign(budget_total=50_000, alert_emails=["ops@shop.example"])
    charge(spent, 49_251)  # 749 left
    healthy = live_campaign(budget_total=50_000, alert_emails=["ops@shop.example"])
    charge(healthy, 49_250)  # 750 left: one more ¥100.00 plan still fits
    paused = live_campaign(budget_total=50_000, status="paused")
    charge(paused, 49_251)
    spent.refresh_from_db()
    assert campaign_shown_state(spent, merchant=spent.merchant) == ShownState.BUDGET_SPENT

    assert alerts_sweep()["recorded"] == 1
    [notice] = alerts(spent, REFUSED)
    assert (notice.budget_total, notice.budget_used) == (50_000, 49_251)
    assert alerts(healthy, REFUSED) == []
    assert alerts(paused, REFUSED) == []

    # Once recorded, it is not recorded again in this arming...
    alerts_sweep()
    assert len(alerts(spent, REFUSED)) == 1
    # ...and its e-mail goes out when the sweep finds it still unsent.
    alerts_sweep(now=timezone.now() + timedelta(minutes=2))
    subjects = [email.subject for email in mail.outbox]
    assert any(spent.name in s and "out of budget" in s for s in subjects)
    assert not any(healthy.name in s and "out of budget" in s for s in subjects)


# --------------------------------------------------------------------------------------------------
# The "budget spent" shown state


def test_budget_spent_when_the_remaining_total_is_below_the_smallest_m():
    campaign = live_campaign(budget_total=50_000)
    charge(campaign, 49_250)
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.LIVE
    charge(campaign, 1)
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.BUDGET_SPENT


def test_budget_spent_when_todays_remaining_cap_is_below_the_smallest_m():
    campaign = live_campaign(budget_total=5_000_000, daily_cap=10_000)
    charge(campaign, 9_250)
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.LIVE
    charge(campaign, 1)
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.BUDGET_SPENT


def test_the_smallest_m_is_taken_over_every_offer():
    # 3 terms fully free at ¥100.00 costs R(10000 × .018) = 180, less than 12 terms' 750.
    campaign = live_campaign(budget_total=50_000, offers=[(12, 10_000, 0), (3, 10_000, 0)])
    charge(campaign, 49_820)  # 180 left
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.LIVE
    charge(campaign, 1)
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.BUDGET_SPENT


def test_the_smallest_m_is_taken_at_the_offers_minimum():
    # Half free from ¥3,000.00 on 12 terms: M = R(300000 × .075 × 1/2) = 11,250.
    campaign = live_campaign(budget_total=100_000, offers=[(12, 5_000, 300_000)])
    charge(campaign, 88_750)  # 11,250 left
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.LIVE
    charge(campaign, 1)
    campaign.refresh_from_db()
    assert campaign_shown_state(campaign, merchant=campaign.merchant) == ShownState.BUDGET_SPENT


def test_shown_states_outside_the_window_and_when_paused():
    now = timezone.now()
    scheduled = live_campaign(
        budget_total=100, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)
    )
    assert campaign_shown_state(scheduled, merchant=scheduled.merchant) == ShownState.SCHEDULED
    paused = live_campaign(budget_total=100, status="paused")
    assert campaign_shown_state(paused, merchant=paused.merchant) == "paused"
