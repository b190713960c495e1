"""Campaign reads: lists scoped to one merchant, shown states and budget figures."""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Campaign, CampaignDailyUsage, CampaignStatus
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


def campaign_list(*, merchant: Merchant) -> QuerySet[Campaign]:
    return (
        Campaign.objects.filter(merchant=merchant)
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


def campaign_shown_state(
    campaign: Campaign, *, merchant: Merchant, at: datetime | None = None
) -> str:
    at = at or timezone.now()
    if campaign.status == CampaignStatus.APPROVED:
        if at < campaign.starts_at:
            return ShownState.SCHEDULED
        if campaign_is_live(campaign, merchant=merchant, at=at):
            return ShownState.LIVE
    return campaign.status


def campaign_budget_figures(
    campaign: Campaign, *, merchant: Merchant | None = None
) -> BudgetFigures:
    """Used, used today (the merchant-local day, as the daily cap counts it) and remaining."""
    tz = zoneinfo.ZoneInfo((merchant or campaign.merchant).timezone)
    today = timezone.localtime(timezone.now(), tz).date()
    used_today = (
        CampaignDailyUsage.objects.filter(
            merchant_id=campaign.merchant_id, campaign_id=campaign.pk, day=today
        )
        .values_list("used", flat=True)
        .first()
    )
    return BudgetFigures(
        used=campaign.budget_used,
        used_today=used_today or 0,
        remaining=campaign.budget_total - campaign.budget_used,
    )
