"""Atomic budget reservations (DESIGN.md §5).

Each counter changes only through one conditional statement that PostgreSQL evaluates under the row's
lock (``UPDATE … WHERE used + M <= budget``; ``INSERT … ON CONFLICT DO UPDATE … WHERE``), so no check
is ever made before the lock and parallel reservations can never overspend. Callers run these inside
the transaction that creates the plan, so a refusal or any later failure rolls everything back."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.alerts import alert_record, threshold_crossed
from campaigns.models import Campaign, CampaignAlert
from installments.ledger import ledger_post_charge, ledger_post_reversal

# Why a reservation was refused: the total budget, the day's cap, the consumer's limit, or the
# campaign is no longer live.
TOTAL, DAILY_CAP, CONSUMER_LIMIT = "budget_total", "daily_cap", "per_consumer_limit"
NOT_LIVE = "not_live"
LACK_OF_BUDGET = frozenset({TOTAL, DAILY_CAP})


class BudgetRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(f"budget refused: {reason}")
        self.reason = reason


def budget_reserve(
    *,
    campaign: Campaign,
    amount: int,
    day: date,
    consumer_ref: str | None = None,
    live_at: datetime | None = None,
) -> None:
    """Reserve ``amount`` on the campaign's total, on ``day``'s cap and one plan on the consumer's
    count, all or nothing (a savepoint undoes the parts already taken when a later one refuses).

    With ``live_at``, the same statement also requires the campaign to be approved and inside its
    window at that moment, so a campaign paused or ended since it was matched refuses
    (``not_live``) instead of being charged."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"a reservation is a non-negative integer, not {amount!r}")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE campaigns_campaign SET budget_used = budget_used + %(amount)s
                 WHERE id = %(campaign)s AND merchant_id = %(merchant)s
                   AND budget_used + %(amount)s <= budget_total
                   AND (%(live_at)s::timestamptz IS NULL
                        OR (status = 'approved' AND starts_at <= %(live_at)s::timestamptz
                            AND ends_at > %(live_at)s::timestamptz))
                RETURNING budget_used, budget_total, alert_threshold_bp, alert_arm,
                          threshold_alert_arm
                """,
                {
                    "campaign": campaign.pk,
                    "merchant": campaign.merchant_id,
                    "amount": amount,
                    "live_at": live_at,
                },
            )
            taken = cursor.fetchone()
        if taken is None:
            if live_at is not None and not _is_live(campaign, live_at):
                raise BudgetRefused(NOT_LIVE)
            raise BudgetRefused(TOTAL)
        used, total, threshold_bp, arm, fired = taken
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO campaigns_campaigndailyusage (merchant_id, campaign_id, day, used)
                SELECT %(merchant)s, %(campaign)s, %(day)s, %(amount)s
                 WHERE %(cap)s::bigint IS NULL OR %(amount)s <= %(cap)s::bigint
                ON CONFLICT (merchant_id, campaign_id, day) DO UPDATE
                   SET used = campaigns_campaigndailyusage.used + EXCLUDED.used
                 WHERE %(cap)s::bigint IS NULL
                    OR campaigns_campaigndailyusage.used + EXCLUDED.used <= %(cap)s::bigint
                RETURNING id
                """,
                {
                    "merchant": campaign.merchant_id,
                    "campaign": campaign.pk,
                    "day": day,
                    "amount": amount,
                    "cap": campaign.daily_cap,
                },
            )
            if cursor.fetchone() is None:
                raise BudgetRefused(DAILY_CAP)
            if campaign.per_consumer_limit is not None and consumer_ref:
                cursor.execute(
                    """
                    INSERT INTO campaigns_campaignconsumerusage
                           (merchant_id, campaign_id, consumer_ref, plans)
                    VALUES (%(merchant)s, %(campaign)s, %(ref)s, 1)
                    ON CONFLICT (merchant_id, campaign_id, consumer_ref) DO UPDATE
                       SET plans = campaigns_campaignconsumerusage.plans + 1
                     WHERE campaigns_campaignconsumerusage.plans + 1 <= %(limit)s
                    RETURNING id
                    """,
                    {
                        "merchant": campaign.merchant_id,
                        "campaign": campaign.pk,
                        "ref": consumer_ref,
                        "limit": campaign.per_consumer_limit,
                    },
                )
                if cursor.fetchone() is None:
                    raise BudgetRefused(CONSUMER_LIMIT)
        if fired != arm and threshold_crossed(used=used, total=total, threshold_bp=threshold_bp):
            # The row is ours until commit, so this records the notice exactly once.
            alert_record(
                merchant_id=campaign.merchant_id,
                campaign_id=campaign.pk,
                kind=CampaignAlert.Kind.THRESHOLD,
            )


def _is_live(campaign: Campaign, at: datetime) -> bool:
    return Campaign.objects.filter(
        pk=campaign.pk,
        merchant_id=campaign.merchant_id,
        status="approved",
        starts_at__lte=at,
        ends_at__gt=at,
    ).exists()


def budget_release(
    *,
    merchant_id: uuid.UUID,
    campaign_id: uuid.UUID,
    amount: int,
    charge_day: date,
    consumer_ref: str | None = None,
) -> None:
    """Give ``amount`` back to the total and to the cap of the day the plan was charged; with
    ``consumer_ref``, the consumer's plan too (a void or full refund, §3.5)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError(f"a release is a non-negative integer, not {amount!r}")
    with transaction.atomic():
        if amount:
            Campaign.objects.filter(pk=campaign_id, merchant_id=merchant_id).update(
                budget_used=F("budget_used") - amount
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    UPDATE campaigns_campaigndailyusage SET used = used - %(amount)s
                     WHERE merchant_id = %(merchant)s AND campaign_id = %(campaign)s
                       AND day = %(day)s
                    """,
                    {
                        "merchant": merchant_id,
                        "campaign": campaign_id,
                        "day": charge_day,
                        "amount": amount,
                    },
                )
        if consumer_ref:
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    UPDATE campaigns_campaignconsumerusage SET plans = plans - 1
                     WHERE merchant_id = %(merchant)s AND campaign_id = %(campaign)s
                       AND consumer_ref = %(ref)s AND plans > 0
                    """,
                    {"merchant": merchant_id, "campaign": campaign_id, "ref": consumer_ref},
                )


def budget_charge(
    *,
    campaign: Campaign,
    amount: int,
    plan_id: uuid.UUID | None,
    charged_at: datetime,
    consumer_ref: str | None = None,
    require_live: bool = False,
) -> date:
    """Reserve a plan's subsidy on its campaign and post the ledger charge, in the caller's
    transaction. Returns the charge day (the merchant-local date), which reversals return budget to.
    ``require_live`` refuses (``not_live``) a campaign that is not live at ``charged_at``."""
    charge_day = timezone.localtime(
        charged_at, zoneinfo.ZoneInfo(campaign.merchant.timezone)
    ).date()
    with transaction.atomic():
        # The ledger entry first and the reservation last: the campaign's row is locked from the
        # reservation to the commit, so nothing that can come before it should come after it (a
        # hot campaign serialises its checkouts on that lock). A refusal undoes both.
        ledger_post_charge(
            merchant_id=campaign.merchant_id,
            currency=campaign.merchant.currency,
            amount=amount,
            campaign_id=campaign.pk,
            plan_id=plan_id,
            charge_day=charge_day,
            recorded_at=charged_at,
        )
        budget_reserve(
            campaign=campaign,
            amount=amount,
            day=charge_day,
            consumer_ref=consumer_ref,
            live_at=charged_at if require_live else None,
        )
    return charge_day


def budget_reverse(
    *,
    campaign: Campaign,
    amount: int,
    plan_id: uuid.UUID | None,
    charge_day: date,
    consumer_ref: str | None = None,
    recorded_at: datetime | None = None,
) -> None:
    """Give subsidy back (a refund or a void): budget to the charge day, a reversing ledger entry."""
    budget_release(
        merchant_id=campaign.merchant_id,
        campaign_id=campaign.pk,
        amount=amount,
        charge_day=charge_day,
        consumer_ref=consumer_ref,
    )
    ledger_post_reversal(
        merchant_id=campaign.merchant_id,
        currency=campaign.merchant.currency,
        amount=amount,
        campaign_id=campaign.pk,
        plan_id=plan_id,
        charge_day=charge_day,
        recorded_at=recorded_at,
    )
