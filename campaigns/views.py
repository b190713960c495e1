"""The back office's campaign pages (DESIGN.md §10): a read-only list and detail, until the studio
(issue 9) adds ``/campaigns/new/`` and the actions. Every read is scoped to the current merchant."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from backoffice.listing import page_of
from backoffice.tenancy import member_view
from campaigns.filters import CampaignFilter
from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import (
    BudgetFigures,
    campaign_budget_figures,
    campaign_get,
    campaign_list,
    campaign_shown_state,
    merchant_pricing,
)
from installments.plan_models import Plan, PlanStatus
from merchants.models import Store


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign: Campaign
    state: str
    budget: BudgetFigures


@member_view()
def campaign_list_page(request: HttpRequest) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    filterset = CampaignFilter(request.GET or None, queryset=campaign_list(merchant=merchant))
    page = page_of(request, filterset.qs)
    now = timezone.now()
    # The rates are read once for the page, and only when a campaign on it may be live.
    pricing = None
    if any(c.status == CampaignStatus.APPROVED and c.starts_at <= now for c in page):
        pricing = merchant_pricing(merchant=merchant, at=now)
    rows = [
        CampaignRow(
            campaign=campaign,
            state=campaign_shown_state(campaign, merchant=merchant, at=now, pricing=pricing),
            budget=campaign_budget_figures(campaign, merchant=merchant),
        )
        for campaign in page
    ]
    return render(
        request,
        "campaigns/campaign_list.html",
        {"merchant": merchant, "filter": filterset, "page": page, "rows": rows},
    )


@member_view()
def campaign_detail_page(request: HttpRequest, campaign_id: str) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    campaign = campaign_get(merchant=merchant, campaign_id=campaign_id)
    if campaign is None:
        raise Http404
    results = (
        Plan.objects.filter(merchant=merchant, campaign=campaign, test=False)
        .exclude(status=PlanStatus.VOIDED)
        .aggregate(
            plans=Count("id"),
            financed=Coalesce(Sum("original_financed_amount"), 0),
            subsidy=Coalesce(Sum("merchant_subsidy"), 0),
            refunded_plans=Count("id", filter=Q(refunded_amount__gt=0)),
        )
    )
    stores = {
        store.code: store
        for store in Store.objects.filter(merchant=merchant, code__in=campaign.stores)
    }
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "merchant": merchant,
            "campaign": campaign,
            "state": campaign_shown_state(campaign, merchant=merchant),
            "budget": campaign_budget_figures(campaign, merchant=merchant),
            "offers": list(campaign.offers.all()),
            "stores": [(code, stores.get(code)) for code in campaign.stores],
            "results": results,
            "events": list(campaign.events.order_by("-created_at", "-id")[:50]),
        },
    )
