"""The dashboard's reads: sales figures, live campaigns and notices, each in a few aggregate queries
(never one per row), scoped to one merchant.

Days and months are the merchant's own (its time zone), as the merchant reads its sales. Test-mode
plans never count: they are priced like live ones but are not sales."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from campaigns.models import Campaign, CampaignAlert, CampaignEvent, CampaignStatus
from campaigns.selectors import (
    BudgetFigures,
    ShownState,
    campaign_budget_figures,
    campaign_budget_spent,
    campaign_list,
    merchant_pricing,
)
from installments.plan_models import Plan, PlanStatus
from merchants.models import Merchant


@dataclass(frozen=True, slots=True)
class SalesFigures:
    """Plans committed in a period (voided ones left out): what was financed, how many, what they
    cost in subsidy as they stand now (refunds give subsidy back) and how much of them was refunded."""

    financed: int
    plans: int
    subsidy: int
    refunded: int


@dataclass(frozen=True, slots=True)
class SalesSummary:
    today: SalesFigures
    month: SalesFigures
    day_start: datetime
    month_start: datetime


def dashboard_sales(*, merchant: Merchant, now: datetime | None = None) -> SalesSummary:
    """Today's and month-to-date figures, in the merchant's time zone, in one query."""
    now = now or timezone.now()
    local = timezone.localtime(now, zoneinfo.ZoneInfo(merchant.timezone))
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    today = Q(created_at__gte=day_start)
    totals = (
        Plan.objects.filter(
            merchant=merchant, test=False, created_at__gte=month_start, created_at__lte=now
        )
        .exclude(status=PlanStatus.VOIDED)
        .aggregate(
            month_financed=Coalesce(Sum("original_financed_amount"), 0),
            month_plans=Count("id"),
            month_subsidy=Coalesce(Sum("merchant_subsidy"), 0),
            month_refunded=Coalesce(Sum("refunded_amount"), 0),
            today_financed=Coalesce(Sum("original_financed_amount", filter=today), 0),
            today_plans=Count("id", filter=today),
            today_subsidy=Coalesce(Sum("merchant_subsidy", filter=today), 0),
            today_refunded=Coalesce(Sum("refunded_amount", filter=today), 0),
        )
    )

    def figures(prefix: str) -> SalesFigures:
        return SalesFigures(
            financed=totals[f"{prefix}_financed"],
            plans=totals[f"{prefix}_plans"],
            subsidy=totals[f"{prefix}_subsidy"],
            refunded=totals[f"{prefix}_refunded"],
        )

    return SalesSummary(
        today=figures("today"),
        month=figures("month"),
        day_start=day_start,
        month_start=month_start,
    )


@dataclass(frozen=True, slots=True)
class LiveCampaign:
    campaign: Campaign
    state: str  # ShownState.LIVE or ShownState.BUDGET_SPENT
    budget: BudgetFigures

    @property
    def daily_cap_left(self) -> int | None:
        cap = self.campaign.daily_cap
        return None if cap is None else max(0, cap - self.budget.used_today)


def dashboard_live_campaigns(
    *, merchant: Merchant, now: datetime | None = None
) -> list[LiveCampaign]:
    """The merchant's campaigns inside their window and approved (live, or live with the budget
    spent, §4), ending soonest first, with their budget left. A frozen merchant has none live."""
    now = now or timezone.now()
    if merchant.is_frozen:
        return []
    campaigns = list(
        campaign_list(merchant=merchant)
        .filter(status=CampaignStatus.APPROVED, starts_at__lte=now, ends_at__gt=now)
        .order_by("ends_at", "id")
    )
    if not campaigns:
        return []
    pricing = merchant_pricing(merchant=merchant, at=now)
    live = []
    for campaign in campaigns:
        figures = campaign_budget_figures(campaign, merchant=merchant)
        spent = campaign_budget_spent(campaign, pricing=pricing, used_today=figures.used_today)
        live.append(
            LiveCampaign(
                campaign=campaign,
                state=ShownState.BUDGET_SPENT if spent else ShownState.LIVE,
                budget=figures,
            )
        )
    return live


# Campaign events a merchant is told about: what operators (or the auto-approval) decided.
REVIEW_ACTIONS = ("approved", "rejected", "budget_raise_approved", "budget_raise_rejected")


@dataclass(frozen=True, slots=True)
class Notice:
    at: datetime
    source: str  # "alert" (CampaignAlert.kind in ``code``) or "review" (the event's action)
    code: str
    campaign_id: object
    campaign_name: str
    reason: str = ""
    budget_total: int | None = None
    budget_used: int | None = None

    @property
    def tone(self) -> str:
        if self.code in ("rejected", "budget_raise_rejected", "budget_refused"):
            return "bad"
        return "warn" if self.source == "alert" else "good"


def dashboard_notices(*, merchant: Merchant, limit: int = 8) -> list[Notice]:
    """The latest budget alerts (§5) and review decisions (approvals, rejections, budget raises),
    newest first: two queries, each limited."""
    alerts = (
        CampaignAlert.objects.filter(merchant=merchant)
        .order_by("-created_at", "-id")
        .values(
            "created_at", "kind", "campaign_id", "campaign__name", "budget_total", "budget_used"
        )
    )[:limit]
    events = (
        CampaignEvent.objects.filter(
            merchant=merchant,
            action__in=REVIEW_ACTIONS,
            actor_kind__in=[CampaignEvent.ActorKind.OPERATOR, CampaignEvent.ActorKind.SYSTEM],
        )
        .order_by("-created_at", "-id")
        .values("created_at", "action", "campaign_id", "campaign__name", "reason")
    )[:limit]
    notices = [
        Notice(
            at=row["created_at"],
            source="alert",
            code=row["kind"],
            campaign_id=row["campaign_id"],
            campaign_name=row["campaign__name"],
            budget_total=row["budget_total"],
            budget_used=row["budget_used"],
        )
        for row in alerts
    ] + [
        Notice(
            at=row["created_at"],
            source="review",
            code=row["action"],
            campaign_id=row["campaign_id"],
            campaign_name=row["campaign__name"],
            reason=row["reason"],
        )
        for row in events
    ]
    notices.sort(key=lambda notice: notice.at, reverse=True)
    return notices[:limit]


def campaign_counts(*, merchant: Merchant) -> dict[str, int]:
    """How many of the merchant's campaigns are in each stored status (one grouped query)."""
    rows = Campaign.objects.filter(merchant=merchant).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


# --------------------------------------------------------------------------------------------------
# The 30-day picture: financed sales and subsidy per day, the term mix, the interest-free share

TREND_DAYS = 30


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: date
    financed: int
    subsidy: int
    plans: int


@dataclass(frozen=True, slots=True)
class TermShare:
    term: int
    plans: int
    financed: int
    interest_free_plans: int

    def share_of(self, total: int) -> int:
        """This term's share of ``total`` financed, in basis points."""
        return self.financed * 10_000 // total if total else 0


@dataclass(frozen=True, slots=True)
class SalesTrend:
    """The last ``TREND_DAYS`` merchant-local days, today included."""

    days: list[DayFigures]
    terms: list[TermShare]
    first_day: date
    last_day: date
    interest_free_financed: int  # financed sales whose consumer pays no fee

    @property
    def financed(self) -> int:
        return sum(day.financed for day in self.days)

    @property
    def subsidy(self) -> int:
        return sum(day.subsidy for day in self.days)

    @property
    def plans(self) -> int:
        return sum(day.plans for day in self.days)

    @property
    def interest_free_share_bp(self) -> int:
        """The share of financed sales made interest-free (consumer fee 0), in basis points."""
        return self.interest_free_financed * 10_000 // self.financed if self.financed else 0


def plans_trend(
    *,
    merchant: Merchant,
    now: datetime | None = None,
    days: int = TREND_DAYS,
    campaign: Campaign | None = None,
) -> SalesTrend:
    """Financed sales, subsidy and plans per merchant-local day over the last ``days`` days, and the
    mix of terms over them (optionally of one campaign's plans): two grouped queries. As on the
    rest of the dashboard, voided and test plans are left out, a plan counts on the day it was
    made, at its financed amount at commit, and its subsidy is what it costs now (refunds give
    some back)."""
    now = now or timezone.now()
    tz = zoneinfo.ZoneInfo(merchant.timezone)
    last_day = timezone.localtime(now, tz).date()
    first_day = last_day - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tz)
    plans = Plan.objects.filter(
        merchant=merchant, test=False, created_at__gte=start, created_at__lte=now
    ).exclude(status=PlanStatus.VOIDED)
    if campaign is not None:
        plans = plans.filter(campaign=campaign)
    per_day = {
        row["day"]: row
        for row in plans.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(
            financed=Coalesce(Sum("original_financed_amount"), 0),
            subsidy=Coalesce(Sum("merchant_subsidy"), 0),
            plans=Count("id"),
            free_financed=Coalesce(Sum("original_financed_amount", filter=Q(consumer_fee=0)), 0),
        )
    }
    series = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        row = per_day.get(day)
        series.append(
            DayFigures(
                day=day,
                financed=row["financed"] if row else 0,
                subsidy=row["subsidy"] if row else 0,
                plans=row["plans"] if row else 0,
            )
        )
    free = Q(consumer_fee=0)
    terms = [
        TermShare(
            term=row["term"],
            plans=row["plans"],
            financed=row["financed"],
            interest_free_plans=row["free_plans"],
        )
        for row in plans.values("term")
        .annotate(
            plans=Count("id"),
            financed=Coalesce(Sum("original_financed_amount"), 0),
            free_plans=Count("id", filter=free),
        )
        .order_by("term")
    ]
    free_financed = sum(row["free_financed"] for row in per_day.values())
    return SalesTrend(
        days=series,
        terms=terms,
        first_day=first_day,
        last_day=last_day,
        interest_free_financed=free_financed,
    )


def campaign_term_mix(*, merchant: Merchant, campaign: Campaign) -> list[TermShare]:
    """A campaign's plans by term, all time (voided and test plans left out): one grouped query."""
    free = Q(consumer_fee=0)
    return [
        TermShare(
            term=row["term"],
            plans=row["plans"],
            financed=row["financed"],
            interest_free_plans=row["free_plans"],
        )
        for row in Plan.objects.filter(merchant=merchant, campaign=campaign, test=False)
        .exclude(status=PlanStatus.VOIDED)
        .values("term")
        .annotate(
            plans=Count("id"),
            financed=Coalesce(Sum("original_financed_amount"), 0),
            free_plans=Count("id", filter=free),
        )
        .order_by("term")
    ]
