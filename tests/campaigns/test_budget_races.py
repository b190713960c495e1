"""Budgets under real parallelism on PostgreSQL (DESIGN.md §5): 50 threads, each in its own
transaction and connection, reserving against a budget that fits 20.

``test_the_race_test_catches_check_then_update`` runs the same race against a deliberately wrong
check-then-update version (with a small delay between the check and the write) and shows that it
overspends: the race test can catch the bug it is there for."""

import threading
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from campaigns.budgets import BudgetRefused, budget_charge, budget_reverse
from campaigns.models import Campaign, CampaignConsumerUsage, CampaignDailyUsage
from installments.ledger_models import EntryKind, LedgerPosting
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50
M = 1_000
NOON_1111 = datetime(2026, 11, 11, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def race(work) -> list[str]:
    """Run ``work()`` in THREADS threads released together; collect "ok" or the refusal reason."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                work()
            outcome = "ok"
        except BudgetRefused as exc:
            outcome = exc.reason
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    close_old_connections()
    assert len(outcomes) == THREADS
    return outcomes


def ledger_net(campaign: Campaign) -> int:
    """Σ charges − Σ reversals for the campaign, read from the merchant receivable postings."""
    total = LedgerPosting.objects.filter(
        entry__campaign=campaign, account__kind="receivable"
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def test_total_budget_fits_exactly_twenty():
    campaign = CampaignFactory(status="approved", budget_total=20 * M)
    now = timezone.now()
    outcomes = race(
        lambda: budget_charge(campaign=campaign, amount=M, plan_id=None, charged_at=now)
    )
    campaign.refresh_from_db()
    assert outcomes.count("ok") == 20
    assert outcomes.count("budget_total") == 30
    assert campaign.budget_used == 20 * M == ledger_net(campaign)
    day = timezone.localtime(now, ZoneInfo("Asia/Shanghai")).date()
    assert CampaignDailyUsage.objects.get(campaign=campaign, day=day).used == 20 * M


def test_daily_cap_fits_exactly_twenty():
    campaign = CampaignFactory(status="approved", budget_total=1_000 * M, daily_cap=20 * M)
    day = date(2026, 11, 11)
    outcomes = race(
        lambda: budget_charge(campaign=campaign, amount=M, plan_id=None, charged_at=NOON_1111)
    )
    campaign.refresh_from_db()
    assert outcomes.count("ok") == 20
    assert outcomes.count("daily_cap") == 30
    # Refused reservations took nothing from the total either (all or nothing).
    assert campaign.budget_used == 20 * M == ledger_net(campaign)
    assert CampaignDailyUsage.objects.get(campaign=campaign, day=day).used == 20 * M


def test_per_consumer_limit_under_a_race():
    campaign = CampaignFactory(status="approved", budget_total=1_000 * M, per_consumer_limit=20)
    day = date(2026, 11, 11)
    outcomes = race(
        lambda: budget_charge(
            campaign=campaign, amount=M, plan_id=None, charged_at=NOON_1111, consumer_ref="c-42"
        )
    )
    campaign.refresh_from_db()
    assert outcomes.count("ok") == 20
    assert outcomes.count("per_consumer_limit") == 30
    assert CampaignConsumerUsage.objects.get(campaign=campaign, consumer_ref="c-42").plans == 20
    assert campaign.budget_used == 20 * M == ledger_net(campaign)
    assert CampaignDailyUsage.objects.get(campaign=campaign, day=day).used == 20 * M


def test_reversals_return_budget_to_the_charge_day_and_balance_the_ledger():
    campaign = CampaignFactory(status="approved", budget_total=10 * M, daily_cap=5 * M)
    charged_at = timezone.now()
    with transaction.atomic():
        day = budget_charge(campaign=campaign, amount=5 * M, plan_id=None, charged_at=charged_at)
    with pytest.raises(BudgetRefused), transaction.atomic():
        budget_charge(campaign=campaign, amount=1, plan_id=None, charged_at=charged_at)
    with transaction.atomic():
        budget_reverse(campaign=campaign, amount=2 * M, plan_id=None, charge_day=day)
    campaign.refresh_from_db()
    assert campaign.budget_used == 3 * M == ledger_net(campaign)
    assert CampaignDailyUsage.objects.get(campaign=campaign, day=day).used == 3 * M
    kinds = sorted(
        LedgerPosting.objects.filter(entry__campaign=campaign, amount__gt=0).values_list(
            "entry__kind", flat=True
        )
    )
    assert kinds == [EntryKind.CHARGE, EntryKind.REVERSAL]


def test_a_zero_subsidy_posts_nothing():
    campaign = CampaignFactory(status="approved", budget_total=10 * M)
    with transaction.atomic():
        budget_charge(campaign=campaign, amount=0, plan_id=None, charged_at=timezone.now())
    assert not LedgerPosting.objects.filter(entry__campaign=campaign).exists()


def naive_reserve(campaign: Campaign, amount: int) -> None:
    """The bug §5 forbids: read, check, then write — with a delay that widens the window."""
    row = Campaign.objects.get(pk=campaign.pk)
    if row.budget_used + amount > row.budget_total:
        raise BudgetRefused("budget_total")
    time.sleep(0.02)
    # Even with an F() increment the check was made before any lock, so it no longer holds.
    Campaign.objects.filter(pk=campaign.pk).update(budget_used=F("budget_used") + amount)


def test_the_race_test_catches_check_then_update():
    # The database's own CHECK (used <= total) is the last line of defence; drop it for this one
    # demonstration so the overspend shows up as a number instead of an IntegrityError.
    campaign = CampaignFactory(status="approved", budget_total=20 * M)
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE campaigns_campaign DROP CONSTRAINT campaign_budget_used_within_total"
        )
    try:
        outcomes = race(lambda: naive_reserve(campaign, M))
        campaign.refresh_from_db()
        assert outcomes.count("ok") > 20
        assert campaign.budget_used > campaign.budget_total
    finally:
        Campaign.objects.filter(pk=campaign.pk).update(budget_used=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE campaigns_campaign ADD CONSTRAINT campaign_budget_used_within_total "
                "CHECK (budget_used >= 0 AND budget_used <= budget_total)"
            )
