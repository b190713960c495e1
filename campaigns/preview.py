"""The campaign studio's live preview (DESIGN.md §4, §10): what a basket would get from a campaign
being edited, term by term, priced exactly as checkout prices it.

A draft is not live, so matching would never see it. Instead of re-doing any of its maths, the
preview turns the settings being edited into the very ``LiveCampaign`` that matching builds from a
stored definition and hands it to ``matching.offers_price``, the function ``offers_match`` runs at
quote and commit time: the same scope rules, tier choice, budget check and calculator. Only what a
live read would supply is filled in from the campaign itself: its remaining budget (the whole
budget for a new one), today's remaining cap, and a consumer who has no plan in it yet.

It is a selector: it reads the pricing inputs in force (one pipelined round trip) and, for a
stored campaign, its budget used today; it writes nothing and never alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from campaigns.matching import (
    Basket,
    LiveCampaign,
    Matching,
    OfferTier,
    TermMatch,
    campaign_admits,
    in_scope_total,
    live_campaigns,
    offers_price,
    tier_for,
)
from campaigns.models import Campaign
from campaigns.selectors import campaign_budget_figures
from campaigns.services import CampaignInput
from installments.selectors import PlatformParameters, TermRates, pricing_in_force
from merchants.models import Merchant

# Why the campaign gives nothing to the basket (all terms) or on one term. Codes, so each interface
# says them in its own words and language.
NOT_STACKING = "not_stacking"  # a government subsidy and the campaign does not stack with it
OTHER_STORE = "other_store"  # the campaign names stores and the basket is not in one of them
OTHER_CHANNEL = "other_channel"
BELOW_ORDER_MINIMUM = "below_order_minimum"
ABOVE_ORDER_MAXIMUM = "above_order_maximum"
NEEDS_LINES = "needs_lines"  # the campaign restricts products and the basket names no lines
NOTHING_IN_SCOPE = "nothing_in_scope"
NO_OFFER_ON_TERM = "no_offer_on_term"
BELOW_TIER_MINIMUM = "below_tier_minimum"
BUDGET_SHORT = "budget_short"
NOTHING_TO_WAIVE = "nothing_to_waive"

# The id a campaign not saved yet is matched under (never a real campaign's).
UNSAVED = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class PreviewTerm:
    """One term as checkout would offer it for the basket, and what the campaign does on it."""

    match: TermMatch
    applies: bool
    reason: str = ""  # a code above when the campaign gives nothing on this term
    tier_minimum: int | None = None  # for BELOW_TIER_MINIMUM: the lowest tier's minimum
    plans_covered: int | None = None  # how many such plans the remaining budget pays for
    # Another live campaign that checkout would choose on this term over this one ("" if none).
    chosen_instead: str = ""


@dataclass(frozen=True, slots=True)
class CampaignPreview:
    matching: Matching
    terms: tuple[PreviewTerm, ...]
    reason: str  # why the campaign gives nothing to this basket at all ("" when it may)
    budget_remaining: int
    # Offered terms of the campaign that the basket's financed amount cannot be financed on.
    terms_out_of_limits: tuple[int, ...]


def preview_moment(data: CampaignInput | None, *, now: datetime) -> datetime:
    """When the preview prices a purchase: now, or the window's start for a campaign that has not
    started (the rates and due dates of its first day)."""
    if data is None or data.starts_at.tzinfo is None or data.ends_at <= data.starts_at:
        return now
    return max(now, data.starts_at) if now < data.ends_at else now


def preview_campaign(
    *,
    data: CampaignInput,
    campaign: Campaign | None,
    merchant: Merchant,
    at: datetime,
) -> LiveCampaign:
    """The settings being edited as matching's ``LiveCampaign``, with the budget that is left."""
    tiers: dict[int, list[OfferTier]] = {}
    for index, offer in enumerate(data.offers):
        tiers.setdefault(offer.term, []).append(
            OfferTier(offer_id=index, min_amount=offer.min_amount, share_bp=offer.merchant_share_bp)
        )
    used, used_today = 0, 0
    if campaign is not None and campaign.pk is not None:
        figures = campaign_budget_figures(campaign, merchant=merchant, at=at)
        used, used_today = figures.used, figures.used_today
    return LiveCampaign(
        id=campaign.pk if campaign is not None else UNSAVED,
        name=data.name,
        starts_at=data.starts_at,
        created_at=campaign.created_at if campaign is not None else at,
        all_products=data.all_products,
        categories=frozenset(data.categories),
        skus=frozenset(data.skus),
        exclude_skus=frozenset(data.exclude_skus),
        stores=frozenset(data.stores),
        channels=tuple(data.channels),
        min_amount=data.min_amount,
        max_amount=data.max_amount,
        budget_remaining=max(0, data.budget_total - used),
        daily_cap_remaining=None if data.daily_cap is None else max(0, data.daily_cap - used_today),
        # A consumer with no subsidised plan in it yet: the limit never stops the first one.
        per_consumer_limit=None,
        consumer_plans=0,
        stacks_with_government_subsidy=data.stacks_with_government_subsidy,
        refusal_alerted=True,  # a preview never records a budget notice
        tiers={
            term: tuple(sorted(found, key=lambda tier: tier.min_amount, reverse=True))
            for term, found in tiers.items()
        },
    )


def _basket_reason(draft: LiveCampaign, basket: Basket) -> str:
    """Why the campaign gives nothing to the basket on any term, in matching's order (§3.3, §4)."""
    if campaign_admits(draft, basket):
        scope = in_scope_total(draft, basket)
        if scope is None:
            return NEEDS_LINES
        return NOTHING_IN_SCOPE if scope == 0 else ""
    if basket.government_subsidy > 0 and not draft.stacks_with_government_subsidy:
        return NOT_STACKING
    if draft.stores and basket.store not in draft.stores:
        return OTHER_STORE
    if len(draft.channels) == 1 and basket.channel != draft.channels[0]:
        return OTHER_CHANNEL
    if draft.min_amount is not None and basket.financed_amount < draft.min_amount:
        return BELOW_ORDER_MINIMUM
    return ABOVE_ORDER_MAXIMUM


def campaign_preview(
    *,
    merchant: Merchant,
    basket: Basket,
    data: CampaignInput | None,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> CampaignPreview:
    """Every term checkout would offer for ``basket`` if the campaign described by ``data`` were the
    merchant's only live campaign, priced by ``offers_price``; with ``data`` ``None`` (no valid offer
    yet) the terms at their full fee. Raises ``DomainError`` ``below_minimum`` or ``above_maximum``
    as a quote does when no term can finance the amount."""
    now = now or timezone.now()
    at = preview_moment(data, now=now)
    platform, fee_terms = pricing_in_force(merchant_id=merchant.pk, at=at)
    draft = (
        preview_campaign(data=data, campaign=campaign, merchant=merchant, at=at)
        if data is not None and data.offers
        else None
    )
    matching = offers_price(
        merchant=merchant,
        basket=basket,
        at=at,
        platform=platform,
        fee_terms=fee_terms,
        campaigns=[draft] if draft is not None else [],
    )
    if draft is None:
        return CampaignPreview(
            matching=matching,
            terms=tuple(PreviewTerm(match=match, applies=False) for match in matching.terms),
            reason="",
            budget_remaining=0,
            terms_out_of_limits=(),
        )
    reason = _basket_reason(draft, basket)
    principal = basket.financed_amount
    winners = _checkout_winners(
        merchant=merchant, basket=basket, at=at, draft=draft, platform=platform, fee_terms=fee_terms
    )
    terms = []
    for match in matching.terms:
        subsidy = match.price.merchant_subsidy
        if match.offer is not None:
            terms.append(
                PreviewTerm(
                    match=match,
                    applies=True,
                    plans_covered=draft.budget_remaining // subsidy if subsidy else None,
                    chosen_instead=winners.get(match.term, ""),
                )
            )
            continue
        tiers = draft.tiers.get(match.term)
        minimum = None
        if reason:
            why = reason
        elif not tiers:
            why = NO_OFFER_ON_TERM
        elif tier_for(tiers, principal) is None:
            why, minimum = BELOW_TIER_MINIMUM, tiers[-1].min_amount
        elif draft.id in matching.budget_short:
            why = BUDGET_SHORT
        else:
            why = NOTHING_TO_WAIVE
        terms.append(
            PreviewTerm(
                match=match,
                applies=False,
                reason=why,
                tier_minimum=minimum,
                chosen_instead=winners.get(match.term, ""),
            )
        )
    priced = {match.term for match in matching.terms}
    return CampaignPreview(
        matching=matching,
        terms=tuple(terms),
        reason=reason,
        budget_remaining=draft.budget_remaining,
        terms_out_of_limits=tuple(sorted(set(draft.tiers) - priced)),
    )


def _checkout_winners(
    *,
    merchant: Merchant,
    basket: Basket,
    at: datetime,
    draft: LiveCampaign,
    platform: PlatformParameters,
    fee_terms: dict[int, TermRates],
) -> dict[int, str]:
    """Per term, the name of another campaign live at ``at`` that checkout would choose over the one
    being edited (matching's own order: the lowest consumer fee, then the lower cost to the
    merchant, the earlier start …), found by matching both together. One more read: the merchant's
    live campaigns and their budgets, as a quote reads them."""
    others = [c for c in live_campaigns(merchant=merchant, at=at) if c.id != draft.id]
    if not others:
        return {}
    together = offers_price(
        merchant=merchant,
        basket=basket,
        at=at,
        platform=platform,
        fee_terms=fee_terms,
        campaigns=[draft, *others],
    )
    return {
        match.term: match.offer.campaign_name
        for match in together.terms
        if match.offer is not None and match.offer.campaign_id != draft.id
    }
