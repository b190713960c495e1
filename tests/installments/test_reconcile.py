"""Reconciliation (DESIGN.md §5, §7): a campaign's budget used and each day's use of its cap equal
Σ charges − Σ reversals in the ledger; ``reconcile()`` and ``manage.py reconcile`` say so, or say
exactly what disagrees."""

import json
from datetime import datetime, timedelta
from io import StringIO
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django.db.models import F

from campaigns.budgets import budget_charge, budget_reverse
from campaigns.models import Campaign, CampaignDailyUsage
from installments.management.commands.reconcile import Command as ReconcileCommand
from installments.reconcile import reconcile
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON_1111 = datetime(2026, 11, 11, 12, 0, tzinfo=SHANGHAI)
# At least these; other checks (plans, statements) may run beside them.
CHECKS = {"entries_balanced", "campaign_budget_used", "campaign_daily_usage", "account_balances"}


def charged_campaign(**fields):
    """A campaign charged 30,000 on 11 Nov and 5,000 on 12 Nov, with 12,000 of the first reversed
    on 13 Nov: used 23,000, of which 18,000 on 11 Nov's cap and 5,000 on 12 Nov's."""
    fields.setdefault("budget_total", 100_000)
    fields.setdefault("daily_cap", 50_000)
    campaign = CampaignFactory(status="approved", **fields)
    with transaction.atomic():
        first_day = budget_charge(
            campaign=campaign, amount=30_000, plan_id=None, charged_at=NOON_1111
        )
        budget_charge(
            campaign=campaign,
            amount=5_000,
            plan_id=None,
            charged_at=NOON_1111 + timedelta(days=1),
        )
        budget_reverse(
            campaign=campaign,
            amount=12_000,
            plan_id=None,
            charge_day=first_day,
            recorded_at=NOON_1111 + timedelta(days=2),
        )
    return campaign


def usage(campaign):
    return dict(CampaignDailyUsage.objects.filter(campaign=campaign).values_list("day", "used"))


def mismatches(report, check):
    return [m for m in report.mismatches if m["check"] == check]


# --------------------------------------------------------------------------------------------------
# reconcile()


def test_books_agree_after_charges_and_a_reversal():
    campaign = charged_campaign()
    campaign.refresh_from_db()
    assert campaign.budget_used == 23_000
    assert {d.isoformat(): used for d, used in usage(campaign).items()} == {
        "2026-11-11": 18_000,  # the reversal went back to the charge day, not the day it was made
        "2026-11-12": 5_000,
    }

    report = reconcile()
    assert report.ok is True
    assert report.mismatches == []
    assert set(report.checks) >= CHECKS
    assert report.as_dict() == {"ok": True, "checks": report.checks, "mismatches": []}


def test_books_agree_with_no_activity_at_all():
    CampaignFactory(status="approved")
    assert reconcile().ok is True


@pytest.mark.no_reconcile
def test_a_corrupted_budget_used_is_reported():
    campaign = charged_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(budget_used=F("budget_used") + 500)

    report = reconcile()
    assert report.ok is False
    [found] = mismatches(report, "campaign_budget_used")
    assert found["campaign_id"] == str(campaign.pk)
    assert found["merchant_id"] == str(campaign.merchant_id)
    assert found["budget_used"] == 23_500
    assert found["ledger_net"] == 23_000
    # The daily usage still agrees with the ledger: only the total is named.
    assert mismatches(report, "campaign_daily_usage") == []


@pytest.mark.no_reconcile
def test_a_corrupted_daily_usage_is_reported_with_its_day():
    campaign = charged_campaign()
    CampaignDailyUsage.objects.filter(campaign=campaign, day="2026-11-12").update(used=4_999)

    report = reconcile()
    assert report.ok is False
    [found] = mismatches(report, "campaign_daily_usage")
    assert found["campaign_id"] == str(campaign.pk)
    assert found["day"] == "2026-11-12"
    assert (found["used"], found["ledger_net"]) == (4_999, 5_000)
    assert mismatches(report, "campaign_budget_used") == []


@pytest.mark.no_reconcile
def test_a_missing_daily_usage_row_is_reported():
    campaign = charged_campaign()
    CampaignDailyUsage.objects.filter(campaign=campaign, day="2026-11-11").delete()

    [found] = mismatches(reconcile(), "campaign_daily_usage")
    assert found["day"] == "2026-11-11"
    assert (found["used"], found["ledger_net"]) == (0, 18_000)


@pytest.mark.no_reconcile
def test_a_budget_used_with_no_ledger_behind_it_is_reported():
    campaign = CampaignFactory(status="approved")
    Campaign.objects.filter(pk=campaign.pk).update(budget_used=1)
    [found] = mismatches(reconcile(), "campaign_budget_used")
    assert (found["budget_used"], found["ledger_net"]) == (1, 0)


@pytest.mark.no_reconcile
def test_one_merchants_books_are_checked_alone():
    dirty = charged_campaign()
    clean = charged_campaign()
    Campaign.objects.filter(pk=dirty.pk).update(budget_used=F("budget_used") - 1)

    assert reconcile(merchant_id=clean.merchant_id).ok is True
    report = reconcile(merchant_id=dirty.merchant_id)
    assert report.ok is False
    assert {m["merchant_id"] for m in report.mismatches} == {str(dirty.merchant_id)}
    assert not reconcile().ok


@pytest.mark.no_reconcile
def test_the_limit_caps_mismatches_per_check():
    campaigns = [CampaignFactory(status="approved") for _ in range(3)]
    Campaign.objects.filter(pk__in=[c.pk for c in campaigns]).update(budget_used=1)
    assert len(mismatches(reconcile(), "campaign_budget_used")) == 3
    assert len(mismatches(reconcile(limit=2), "campaign_budget_used")) == 2


# --------------------------------------------------------------------------------------------------
# manage.py reconcile


def run_command(*args):
    out = StringIO()
    call_command("reconcile", *args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_the_command_prints_ok_on_clean_books():
    campaign = charged_campaign()
    result = run_command()
    assert result["ok"] is True
    assert result["mismatches"] == []
    assert set(result["checks"]) >= CHECKS
    assert run_command("--merchant", str(campaign.merchant_id))["ok"] is True


def test_the_command_exits_zero_on_clean_books(capsys):
    charged_campaign()
    with mock.patch.object(connections, "close_all"):  # keep the test's transaction open
        ReconcileCommand().run_from_argv(["manage.py", "reconcile"])  # no SystemExit
    assert json.loads(capsys.readouterr().out)["ok"] is True


@pytest.mark.no_reconcile
def test_the_command_fails_when_books_disagree(capsys):
    campaign = charged_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(budget_used=F("budget_used") + 1)

    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("reconcile", stdout=out)
    assert raised.value.returncode != 0
    printed = json.loads(out.getvalue())  # the report is still printed, for the operator
    assert printed["ok"] is False
    assert [m["check"] for m in printed["mismatches"]] == ["campaign_budget_used"]
    assert printed["mismatches"][0]["campaign_id"] == str(campaign.pk)

    with mock.patch.object(connections, "close_all"), pytest.raises(SystemExit) as exited:
        ReconcileCommand().run_from_argv(["manage.py", "reconcile"])
    assert exited.value.code not in (0, None)


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_the_command_refuses_a_bad_merchant(bad):
    CampaignFactory(status="approved")  # some merchant exists, just not this one
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("reconcile", "--merchant", bad, stdout=out)
    assert "not_found" in str(raised.value)
    assert out.getvalue() == ""


def test_the_command_refuses_a_limit_below_one():
    with pytest.raises(CommandError) as raised:
        call_command("reconcile", "--limit", "0", stdout=StringIO())
    assert "validation_error" in str(raised.value)
