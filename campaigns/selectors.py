"""Campaign reads: lists scoped to one merchant, shown states and budget figures."""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, CampaignDailyUsage, CampaignStatus
from installments.calculator import Rounding, TermPricing
from installments.selectors import TermRates, fee_terms_in_force, platform_settings_in_force
from merchants.models import Merchant


class ShownState:
    """States derived for display (§4); the stored status stays the source of truth."""

    SCHEDULED = "scheduled"
    LIVE = "live"
    BUDGET_SPENT = "budget_spent"


@dataclass(frozen=True, slots=True)
class BudgetFigures:
    used: int
    used_today: int
    remaining: int


def _merchant_today(merchant: Merchant, at: datetime | None = None) -> date:
    return timezone.localtime(at or timezone.now(), zoneinfo.ZoneInfo(merchant.timezone)).date()


def campaign_list(*, merchant: Merchant) -> QuerySet[Campaign]:
    """The merchant's campaigns, newest first, each with ``used_today_annotated`` (one query for a
    page, not one per campaign)."""
    today_usage = CampaignDailyUsage.objects.filter(
        merchant_id=merchant.pk, campaign_id=OuterRef("pk"), day=_merchant_today(merchant)
    ).values("used")[:1]
    return (
        Campaign.objects.filter(merchant=merchant)
        .annotate(used_today_annotated=Coalesce(Subquery(today_usage), 0))
        .prefetch_related("offers")
        .order_by("-created_at", "id")
    )


def campaign_get(*, merchant: Merchant, campaign_id: object) -> Campaign | None:
    """The merchant's campaign with this id, or None (another merchant's id is simply not found)."""
    try:
        pk = campaign_id if isinstance(campaign_id, uuid.UUID) else uuid.UUID(str(campaign_id))
    except ValueError:
        return None
    return campaign_list(merchant=merchant).filter(pk=pk).first()


def campaign_is_live(campaign: Campaign, *, merchant: Merchant, at: datetime) -> bool:
    return (
        campaign.status == CampaignStatus.APPROVED
        and campaign.starts_at <= at < campaign.ends_at
        and not merchant.is_frozen
    )


@dataclass(frozen=True, slots=True)
class MerchantPricing:
    """The merchant's rates per term and the platform's rounding at one moment."""

    term_rates: dict[int, TermRates]
    rounding: Rounding


def merchant_pricing(*, merchant: Merchant, at: datetime | None = None) -> MerchantPricing:
    at = at or timezone.now()
    return MerchantPricing(
        term_rates=fee_terms_in_force(merchant_id=merchant.pk, at=at),
        rounding=platform_settings_in_force(at=at).rounding,
    )


def campaign_smallest_subsidy(campaign: Campaign, *, pricing: MerchantPricing) -> int | None:
    """The smallest ``M`` any of its offers would charge at that offer's minimum with ``E`` equal to
    it, at the merchant's current rates (§4). The minimum is raised to what can actually be financed
    on that term (the term's and the campaign's own minimum), as an offer from 0 still cannot finance
    less than that. ``None`` when no offer's term is offered any more."""
    smallest = None
    for offer in campaign.offers.all():
        rates = pricing.term_rates.get(offer.term)
        if rates is None:
            continue
        floor = max(offer.min_amount, rates.min_amount, campaign.min_amount or 0, 1)
        subsidy = TermPricing.of(
            consumer_rate=rates.consumer_rate,
            merchant_rate=rates.merchant_rate,
            rounding=pricing.rounding,
        ).amounts(principal=floor, eligible=floor, share_bp=offer.merchant_share_bp)
        value = subsidy.merchant_subsidy
        smallest = value if smallest is None else min(smallest, value)
    return smallest


def campaign_budget_spent(campaign: Campaign, *, pricing: MerchantPricing, used_today: int) -> bool:
    """The remaining total budget or today's remaining cap is below the smallest ``M`` (§4)."""
    smallest = campaign_smallest_subsidy(campaign, pricing=pricing)
    if smallest is None:
        return False
    if campaign.budget_total - campaign.budget_used < smallest:
        return True
    return campaign.daily_cap is not None and campaign.daily_cap - used_today < smallest


def campaign_shown_state(
    campaign: Campaign,
    *,
    merchant: Merchant,
    at: datetime | None = None,
    pricing: MerchantPricing | None = None,
) -> str:
    """``scheduled``, ``live`` or ``budget_spent`` for an approved campaign, else its status."""
    at = at or timezone.now()
    if campaign.status == CampaignStatus.APPROVED:
        if at < campaign.starts_at:
            return ShownState.SCHEDULED
        if campaign_is_live(campaign, merchant=merchant, at=at):
            pricing = pricing or merchant_pricing(merchant=merchant, at=at)
            used_today = campaign_budget_figures(campaign, merchant=merchant, at=at).used_today
            if campaign_budget_spent(campaign, pricing=pricing, used_today=used_today):
                return ShownState.BUDGET_SPENT
            return ShownState.LIVE
    return campaign.status


def campaign_budget_figures(
    campaign: Campaign, *, merchant: Merchant | None = None, at: datetime | None = None
) -> BudgetFigures:
    """Used, used on the merchant-local day of ``at`` (default: today, as the daily cap counts it)
    and remaining."""
    used_today = None if at is not None else getattr(campaign, "used_today_annotated", None)
    if used_today is None:
        used_today = (
            CampaignDailyUsage.objects.filter(
                merchant_id=campaign.merchant_id,
                campaign_id=campaign.pk,
                day=_merchant_today(merchant or campaign.merchant, at),
            )
            .values_list("used", flat=True)
            .first()
        )
    return BudgetFigures(
        used=campaign.budget_used,
        used_today=used_today or 0,
        remaining=campaign.budget_total - campaign.budget_used,
    )


# --------------------------------------------------------------------------------------------------
# Results and the budget's outlook (the studio's detail page and the dashboard)

# The pace is the average subsidy per day over the last PACE_DAYS full days (yesterday and the days
# before it, in the merchant's time zone), counted by the day each subsidy was charged and net of
# refunds (the daily-cap counters, §5). Today is left out: it is not over yet.
PACE_DAYS = 7


@dataclass(frozen=True, slots=True)
class BudgetOutlook:
    """When the budget runs out if subsidies go on at the current pace.

    ``pace`` is ``None`` when the campaign has not had a full day live in the last ``PACE_DAYS``
    (nothing to measure yet); ``runs_out_on`` is ``None`` when it has no pace or a pace of 0, or
    when the budget lasts past the window's end (``lasts_to_end``)."""

    pace: int | None
    days_measured: int
    remaining: int
    runs_out_on: date | None
    lasts_to_end: bool
    ends_on: date


def _outlook(
    campaign: Campaign, *, spent: int, today: date, tz: zoneinfo.ZoneInfo
) -> BudgetOutlook:
    start = timezone.localtime(campaign.starts_at, tz).date()
    # The last day of the window (ends_at is excluded: a midnight end means the day before).
    ends_on = timezone.localtime(campaign.ends_at - timedelta(microseconds=1), tz).date()
    first = max(start, today - timedelta(days=PACE_DAYS))
    days = max(0, (today - first).days)
    remaining = campaign.budget_total - campaign.budget_used
    if days == 0:
        return BudgetOutlook(None, 0, remaining, None, False, ends_on)
    pace = spent // days
    if pace <= 0:
        return BudgetOutlook(0, days, remaining, None, False, ends_on)
    # Compared in days before any date is made: a large budget at a slow pace lasts longer than the
    # calendar (a million years of days is no date at all), and that only means it outlasts the window.
    days_left = remaining // pace
    if days_left > (ends_on - today).days:
        return BudgetOutlook(pace, days, remaining, None, True, ends_on)
    return BudgetOutlook(pace, days, remaining, today + timedelta(days=days_left), False, ends_on)


def campaign_outlooks(
    *, merchant: Merchant, campaigns: list[Campaign], at: datetime | None = None
) -> dict[uuid.UUID, BudgetOutlook]:
    """Each campaign's budget outlook at ``at`` (default now), in one query for all of them."""
    tz = zoneinfo.ZoneInfo(merchant.timezone)
    today = _merchant_today(merchant, at)
    if not campaigns:
        return {}
    spent = dict(
        CampaignDailyUsage.objects.filter(
            merchant_id=merchant.pk,
            campaign_id__in=[c.pk for c in campaigns],
            day__gte=today - timedelta(days=PACE_DAYS),
            day__lt=today,
        )
        .values("campaign_id")
        .annotate(total=Sum("used"))
        .values_list("campaign_id", "total")
    )
    return {c.pk: _outlook(c, spent=spent.get(c.pk, 0) or 0, today=today, tz=tz) for c in campaigns}


DAILY_DAYS_SHOWN = 366


@dataclass(frozen=True, slots=True)
class DayAmount:
    day: date
    amount: int


def campaign_daily_subsidy(
    campaign: Campaign, *, merchant: Merchant, at: datetime | None = None
) -> list[DayAmount]:
    """The subsidy charged on each merchant-local day of the campaign so far (net of refunds, by
    the day it was charged), every day of the window up to today, days without any at 0; for a
    campaign running longer than that, its last ``DAILY_DAYS_SHOWN`` days (a window may start in
    year 1, and a page must not build a row for each of 739,000 days)."""
    tz = zoneinfo.ZoneInfo(merchant.timezone)
    today = _merchant_today(merchant, at)
    start = timezone.localtime(campaign.starts_at, tz).date()
    last = min(today, timezone.localtime(campaign.ends_at - timedelta(microseconds=1), tz).date())
    start = max(start, last - timedelta(days=DAILY_DAYS_SHOWN - 1))
    if last < start:
        return []
    used = dict(
        CampaignDailyUsage.objects.filter(
            merchant_id=merchant.pk, campaign_id=campaign.pk, day__gte=start, day__lte=last
        ).values_list("day", "used")
    )
    days = (last - start).days + 1
    return [
        DayAmount(day, used.get(day, 0))
        for day in (start + timedelta(days=offset) for offset in range(days))
    ]
