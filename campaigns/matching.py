"""Matching (DESIGN.md §3.3 and §4): for each term a merchant offers, the campaign offer that gives
the consumer the lowest fee, or none.

It is a selector: it reads one merchant's live campaigns through ``campaign_live_idx`` (never another
merchant's), the budgets they have left (always fresh: nothing here is cached), and prices every
candidate with the plan calculator. The same function runs at quote time and again at commit time,
with the server's clock, so both agree on what "the same offer" is.

The rules, in the order they are applied to each live campaign:
- it does not stack with the government subsidy and ``G > 0``; it names stores and the basket names no
  store or another one; it is limited to one channel and the basket names no channel or the other;
  it has a per-consumer limit and the basket has no ``consumer_ref`` (or the consumer used it up);
- ``P`` is outside its order limits;
- it restricts products and the basket has no lines (``L`` is unknown);
- per term: the tier with the highest minimum not above ``P`` (no fall-back to a lower tier); it does
  not apply when ``W`` and ``M`` are both 0, or when the remaining total budget or today's remaining
  cap is below ``M`` (the campaign is then "short" of budget on that term).
Among what applies: the lowest ``C``, then the lower ``M``, the earlier ``starts_at``, the earlier
created, the smaller id.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any

from django.utils import timezone

from config.prepared import Statement, fetch_prepared, fetch_prepared_many
from installments.calculator import (
    FeeAmounts,
    PlanPrice,
    TermPricing,
    eligible_amount,
)
from installments.selectors import (
    PlatformParameters,
    TermRates,
    pricing_from_rows,
    pricing_statements,
    recent_pricing_get,
    recent_pricing_remember,
)
from merchants.errors import DomainError
from merchants.models import Merchant


@dataclass(frozen=True, slots=True)
class BasketLine:
    sku: str
    category: str
    amount: int


@dataclass(frozen=True, slots=True)
class Basket:
    """What the checkout sends (§3.3, §6). ``lines`` is ``None`` when none were sent."""

    amount: int
    government_subsidy: int = 0
    lines: tuple[BasketLine, ...] | None = None
    store: str | None = None
    channel: str | None = None
    consumer_ref: str | None = None

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount <= 0:
            raise DomainError.validation("amount", "A positive integer in minor units.")
        if type(self.government_subsidy) is not int or self.government_subsidy < 0:
            raise DomainError.validation(
                "government_subsidy", "A non-negative integer in minor units."
            )
        if self.government_subsidy >= self.amount:
            raise DomainError.validation(
                "government_subsidy",
                "Must be less than the amount: the financed amount must be positive.",
            )
        if self.lines is not None:
            if not self.lines:
                raise DomainError.validation("lines", "Send at least one line, or leave lines out.")
            if any(type(line.amount) is not int or line.amount < 0 for line in self.lines):
                raise DomainError.validation("lines", "Line amounts are non-negative integers.")
            if sum(line.amount for line in self.lines) != self.amount:
                raise DomainError.validation("lines", "The lines must sum to the amount.")

    @property
    def financed_amount(self) -> int:
        """``P = A − G``."""
        return self.amount - self.government_subsidy


@dataclass(frozen=True, slots=True)
class OfferTier:
    offer_id: int
    min_amount: int
    share_bp: int


@dataclass(slots=True)  # not frozen: a quote builds up to hundreds, and frozen init costs twice
class LiveCampaign:
    """What matching needs of a live campaign, with its budget as read for this match. Read-only
    by convention: built for one match and never changed."""

    id: uuid.UUID
    name: str
    starts_at: datetime
    created_at: datetime
    all_products: bool
    categories: frozenset[str]
    skus: frozenset[str]
    exclude_skus: frozenset[str]
    stores: frozenset[str]
    channels: tuple[str, ...]
    min_amount: int | None
    max_amount: int | None
    budget_remaining: int
    daily_cap_remaining: int | None  # None: no daily cap
    per_consumer_limit: int | None
    consumer_plans: int  # the basket's consumer's plans in this campaign
    stacks_with_government_subsidy: bool
    refusal_alerted: bool  # its budget-refusal notice already fired for the current arming
    # term -> tiers, highest minimum first
    tiers: dict[int, tuple[OfferTier, ...]]
    # Derived once, for matching's loop over every live campaign of a quote (a LiveCampaign built
    # from unchanged figures is reused from one quote to the next): what decides L, what decides
    # the term-independent admission apart from the consumer's count, the tiers as pairs, and the
    # tie-breakers of §4's order.
    scope_key: tuple[bool, frozenset[str], frozenset[str], frozenset[str]] = field(init=False)
    admission_key: tuple[object, ...] = field(init=False)
    term_tiers: tuple[tuple[int, tuple[OfferTier, ...]], ...] = field(init=False)
    rank_tail: tuple[datetime, datetime, int] = field(init=False)
    spend_limit: int = field(init=False)  # the most one plan may take: budget left, today's cap

    def __post_init__(self) -> None:
        self.scope_key = (self.all_products, self.categories, self.skus, self.exclude_skus)
        self.admission_key = (
            self.stacks_with_government_subsidy,
            self.stores,
            self.channels,
            self.min_amount,
            self.max_amount,
        )
        self.term_tiers = tuple(self.tiers.items())
        # uuids compared as PostgreSQL compares them: as unsigned 128-bit numbers.
        self.rank_tail = (self.starts_at, self.created_at, self.id.int)
        cap = self.daily_cap_remaining
        self.spend_limit = self.budget_remaining if cap is None else min(self.budget_remaining, cap)

    @property
    def restricts_products(self) -> bool:
        return not self.all_products or bool(self.exclude_skus)


@dataclass(frozen=True, slots=True)
class CampaignOffer:
    """The campaign offer chosen for a term, with what it was priced on (a plan snapshots this)."""

    campaign_id: uuid.UUID
    campaign_name: str
    offer_id: int
    share_bp: int
    offer_min_amount: int
    in_scope_total: int  # L
    eligible: int  # E
    # Per basket line (same order), whether it counted toward L; empty when no lines were sent.
    lines_in_scope: tuple[bool, ...] = ()


@dataclass(frozen=True, slots=True)
class TermMatch:
    """One option: the term, the rates it locks, the price, and the campaign offer (or none)."""

    term: int
    rates: TermRates
    price: PlanPrice
    offer: CampaignOffer | None


@dataclass(frozen=True, slots=True)
class Matching:
    at: datetime
    purchase_date: date
    platform: PlatformParameters
    basket: Basket
    terms: tuple[TermMatch, ...]
    # Campaigns left out of some term because their remaining budget or today's cap was below M.
    budget_short: tuple[uuid.UUID, ...]
    # Those of them whose refusal notice (§5) has not fired yet: the caller records it.
    refusals_to_alert: tuple[uuid.UUID, ...]

    def for_term(self, term: int) -> TermMatch | None:
        return next((match for match in self.terms if match.term == term), None)


# --------------------------------------------------------------------------------------------------
# Loading
#
# A quote reads, in one pipelined round trip, the platform settings, the merchant's fee terms and
# the ids of its live campaigns (through ``campaign_live_idx``: never another merchant's rows) with
# their budgets read fresh. What defines a campaign (scope, offers, limits) comes from a per-process
# cache keyed by the merchant's ``CampaignDefinitionVersion``, which a trigger moves in the same
# transaction as any change to its campaigns or offers; a stale or missing entry costs one more
# query. Budgets, today's cap and the consumer's count are never cached.


@dataclass(frozen=True, slots=True)
class CampaignDefinition:
    """What a campaign is, as opposed to how much of its budget is left."""

    id: uuid.UUID
    name: str
    starts_at: datetime
    created_at: datetime
    all_products: bool
    categories: frozenset[str]
    skus: frozenset[str]
    exclude_skus: frozenset[str]
    stores: frozenset[str]
    channels: tuple[str, ...]
    min_amount: int | None
    max_amount: int | None
    per_consumer_limit: int | None
    stacks_with_government_subsidy: bool
    tiers: dict[int, tuple[OfferTier, ...]]


# The id comes as text: a quote compares and looks up a hundred of them, and a str does both in C
# where a UUID runs Python. Today's usage is only read for a campaign with a daily cap.
_LIVE_BUDGETS_SQL = """
SELECT v.version, c.id::text, c.budget_total - c.budget_used,
       CASE WHEN c.daily_cap IS NOT NULL THEN
         c.daily_cap - COALESCE((SELECT u.used FROM campaigns_campaigndailyusage u
                                  WHERE u.merchant_id = c.merchant_id AND u.campaign_id = c.id
                                    AND u.day = %(today)s), 0)
       END,
       COALESCE((SELECT cu.plans FROM campaigns_campaignconsumerusage cu
                  WHERE c.per_consumer_limit IS NOT NULL AND cu.merchant_id = c.merchant_id
                    AND cu.campaign_id = c.id AND cu.consumer_ref = %(consumer_ref)s), 0),
       c.refusal_alert_arm IS NOT DISTINCT FROM c.alert_arm
  FROM (SELECT %(merchant)s::uuid AS id) m
  LEFT JOIN campaigns_campaigndefinitionversion v ON v.merchant_id = m.id
  LEFT JOIN campaigns_campaign c
         ON c.merchant_id = m.id AND c.status = 'approved'
        AND c.starts_at <= %(at)s AND c.ends_at > %(at)s
"""

_DEFINITIONS_SQL = """
SELECT (SELECT v.version FROM campaigns_campaigndefinitionversion v
         WHERE v.merchant_id = %(merchant)s),
       c.id, c.name, c.starts_at, c.created_at, c.all_products, c.categories, c.skus,
       c.exclude_skus, c.stores, c.channels, c.min_amount, c.max_amount, c.per_consumer_limit,
       c.stacks_with_government_subsidy,
       ARRAY(SELECT ARRAY[o.term, o.id, o.min_amount, o.merchant_share_bp]
               FROM campaigns_offer o
              WHERE o.merchant_id = c.merchant_id AND o.campaign_id = c.id
              ORDER BY o.term, o.min_amount DESC)
  FROM campaigns_campaign c
 WHERE c.merchant_id = %(merchant)s AND c.id = ANY(%(ids)s::uuid[])
"""

# merchant id -> (definition version, definitions by campaign id as text). Bounded; oldest entry
# goes first.
_CACHE_LIMIT = 4096
_definitions: dict[uuid.UUID, tuple[int | None, dict[str, CampaignDefinition]]] = {}


# campaign id (text) -> (definition, the fresh figures, the LiveCampaign built from them).
_LIVE_BUILT_LIMIT = 100_000
_live_built: dict[str, tuple[CampaignDefinition, tuple, LiveCampaign]] = {}

# merchant id -> (the budget rows, the definitions entry they were joined with, the campaigns).
_live_lists: dict[uuid.UUID, tuple[list[tuple], object, tuple[LiveCampaign, ...]]] = {}


def definitions_cache_clear() -> None:
    _definitions.clear()
    _live_built.clear()
    _live_lists.clear()


def live_budgets_statement(
    *, merchant: Merchant, at: datetime, consumer_ref: str | None
) -> Statement:
    today = timezone.localtime(at, zoneinfo.ZoneInfo(merchant.timezone)).date()
    params = {"merchant": merchant.pk, "at": at, "today": today, "consumer_ref": consumer_ref}
    return _LIVE_BUDGETS_SQL, params


def _definition_from_row(row: tuple) -> CampaignDefinition:
    tiers: dict[int, list[OfferTier]] = {}
    for term, offer_id, min_amount, share_bp in row[15]:  # highest minimum first
        tiers.setdefault(term, []).append(OfferTier(offer_id, min_amount, share_bp))
    return CampaignDefinition(
        id=row[1],
        name=row[2],
        starts_at=row[3],
        created_at=row[4],
        all_products=row[5],
        categories=frozenset(row[6]),
        skus=frozenset(row[7]),
        exclude_skus=frozenset(row[8]),
        stores=frozenset(row[9]),
        channels=tuple(row[10]),
        min_amount=row[11],
        max_amount=row[12],
        per_consumer_limit=row[13],
        stacks_with_government_subsidy=row[14],
        tiers={term: tuple(found) for term, found in tiers.items()},
    )


def _cached_definitions(
    merchant_id: uuid.UUID, version: int | None, ids: list[str]
) -> dict[str, CampaignDefinition]:
    """Definitions of ``ids`` for the merchant at ``version``, from the cache or the database."""
    cached_version, found = _definitions.get(merchant_id, (None, {}))
    if cached_version != version or version is None:
        found = {}
    missing = [pk for pk in ids if pk not in found]
    if missing:
        rows = fetch_prepared(_DEFINITIONS_SQL, {"merchant": merchant_id, "ids": missing})
        fresh = {str(row[1]): _definition_from_row(row) for row in rows}
        read_version = rows[0][0] if rows else version
        # Stored under the version they were read at (never older than the one asked for).
        found = {**found, **fresh} if read_version == version else fresh
        if len(_definitions) >= _CACHE_LIMIT:
            _definitions.pop(next(iter(_definitions)))
        _definitions[merchant_id] = (read_version, found)
    return found


def live_campaigns_from_rows(merchant_id: uuid.UUID, rows: list[tuple]) -> tuple[LiveCampaign, ...]:
    """Join the fresh budget rows of ``_LIVE_BUDGETS_SQL`` with the campaigns' definitions.

    Between two quotes a merchant's campaigns and budgets rarely move: when the rows are those
    of the last call and were joined with the same cached definitions, its campaigns are the
    answer again; otherwise each LiveCampaign built from the same definition and the same fresh
    figures is reused, and only the others are built."""
    version = rows[0][0] if rows else None
    last = _live_lists.get(merchant_id)
    if (
        last is not None
        and version is not None
        and last[0] == rows
        and last[1] is _definitions.get(merchant_id)
    ):
        return last[2]
    live = [row for row in rows if row[1] is not None]
    if not live:
        return ()
    definitions = _cached_definitions(merchant_id, version, [row[1] for row in live])
    campaigns = []
    for _, key, remaining, cap_remaining, consumer_plans, refusal_alerted in live:
        d = definitions.get(key)
        if d is None:
            continue  # deleted between the two reads: not live any more
        figures = (remaining, cap_remaining, consumer_plans, refusal_alerted)
        seen = _live_built.get(key)
        if seen is not None and seen[0] is d and seen[1] == figures:
            campaigns.append(seen[2])
            continue
        campaign = LiveCampaign(
            id=d.id,
            name=d.name,
            starts_at=d.starts_at,
            created_at=d.created_at,
            all_products=d.all_products,
            categories=d.categories,
            skus=d.skus,
            exclude_skus=d.exclude_skus,
            stores=d.stores,
            channels=d.channels,
            min_amount=d.min_amount,
            max_amount=d.max_amount,
            budget_remaining=remaining,
            daily_cap_remaining=cap_remaining,
            per_consumer_limit=d.per_consumer_limit,
            consumer_plans=consumer_plans,
            stacks_with_government_subsidy=d.stacks_with_government_subsidy,
            refusal_alerted=refusal_alerted,
            tiers=d.tiers,
        )
        if len(_live_built) >= _LIVE_BUILT_LIMIT:
            _live_built.clear()
        _live_built[key] = (d, figures, campaign)
        campaigns.append(campaign)
    # In §4's order of ties (earlier start, earlier created, smaller id): matching then meets each
    # term's winner first among equals and passes over the rest cheaply, whatever order the
    # database returned the rows in (an index scan and a bitmap scan differ).
    found = tuple(sorted(campaigns, key=attrgetter("rank_tail")))
    if version is not None:
        if len(_live_lists) >= _CACHE_LIMIT:
            _live_lists.pop(next(iter(_live_lists)))
        _live_lists[merchant_id] = (rows, _definitions.get(merchant_id), found)
    return found


def live_campaigns(
    *, merchant: Merchant, at: datetime, consumer_ref: str | None = None
) -> Sequence[LiveCampaign]:
    """The merchant's live campaigns at ``at`` with their remaining budgets read now.

    A frozen merchant has none (§8)."""
    if merchant.is_frozen:
        return ()
    statement = live_budgets_statement(merchant=merchant, at=at, consumer_ref=consumer_ref)
    return live_campaigns_from_rows(merchant.pk, fetch_prepared(*statement))


# --------------------------------------------------------------------------------------------------
# The rules (pure)


def line_in_scope(campaign: LiveCampaign, line: BasketLine) -> bool:
    if line.sku in campaign.exclude_skus:
        return False
    return (
        campaign.all_products or line.category in campaign.categories or line.sku in campaign.skus
    )


def in_scope_total(campaign: LiveCampaign, basket: Basket) -> int | None:
    """``L``: the basket's lines in the campaign's scope, less excluded SKUs; ``None`` when the
    campaign restricts products and the basket has no lines (it does not apply, §3.3)."""
    if not campaign.restricts_products:
        return basket.amount
    if basket.lines is None:
        return None
    return sum(line.amount for line in basket.lines if line_in_scope(campaign, line))


def campaign_admits(campaign: LiveCampaign, basket: Basket) -> bool:
    """The term-independent rules of §3.3 and §4: stacking, stores, channels, consumer, limits."""
    return _admits_basket(campaign, basket) and _admits_consumer(campaign, basket)


def _admits_basket(campaign: LiveCampaign, basket: Basket) -> bool:
    """``campaign_admits`` but for the consumer's count: the same for every campaign with the same
    ``admission_key``."""
    if basket.government_subsidy > 0 and not campaign.stacks_with_government_subsidy:
        return False
    if campaign.stores and basket.store not in campaign.stores:
        return False
    if len(campaign.channels) == 1 and basket.channel != campaign.channels[0]:
        return False
    principal = basket.financed_amount
    if campaign.min_amount is not None and principal < campaign.min_amount:
        return False
    return campaign.max_amount is None or principal <= campaign.max_amount


def _admits_consumer(campaign: LiveCampaign, basket: Basket) -> bool:
    return campaign.per_consumer_limit is None or (
        bool(basket.consumer_ref) and campaign.consumer_plans < campaign.per_consumer_limit
    )


def tier_for(tiers: Sequence[OfferTier], principal: int) -> OfferTier | None:
    """The tier with the highest minimum not above ``P`` (``tiers`` are highest minimum first)."""
    for tier in tiers:
        if tier.min_amount <= principal:
            return tier
    return None


@dataclass(slots=True)  # not frozen: a match may build one per campaign and term
class _Candidate:
    amounts: FeeAmounts
    campaign: LiveCampaign
    tier: OfferTier
    in_scope: int
    eligible: int


_UNSEEN: Any = object()


def choose_offers(
    *,
    campaigns: Iterable[LiveCampaign],
    basket: Basket,
    pricing: dict[int, TermPricing],
    platform: PlatformParameters,
) -> tuple[dict[int, _Candidate], dict[uuid.UUID, LiveCampaign]]:
    """For each term (``pricing``: the terms offered, within their limits), the best applicable
    candidate (terms without one are absent), and the campaigns refused somewhere for lack of
    budget."""
    principal = basket.financed_amount
    # Many campaigns share a share and an E: price each (term, E, share) once per match. With P, A
    # and the rounding fixed by the basket, E depends on L alone: computed once per distinct L.
    # Keys are plain ints where they can be: E × 10001 + share (share <= 10000) per term.
    priced: dict[int, dict[int, FeeAmounts]] = {term: {} for term in pricing}
    eligible_of: dict[int, int] = {}
    best: dict[int, _Candidate] = {}
    short: dict[uuid.UUID, LiveCampaign] = {}
    # Campaigns often share a product scope and the rules that admit a basket: L once per distinct
    # scope, admission once per distinct rules (frozensets cache their hash).
    scope_of: dict[tuple[bool, frozenset[str], frozenset[str], frozenset[str]], int | None] = {}
    admitted: dict[tuple[object, ...], bool] = {}
    for campaign in campaigns:
        admits = admitted.get(campaign.admission_key)
        if admits is None:
            admits = admitted[campaign.admission_key] = _admits_basket(campaign, basket)
        if not admits or (
            campaign.per_consumer_limit is not None and not _admits_consumer(campaign, basket)
        ):
            continue
        scope = scope_of.get(campaign.scope_key, _UNSEEN)
        if scope is _UNSEEN:
            scope = scope_of[campaign.scope_key] = in_scope_total(campaign, basket)
        if scope is None:
            continue
        eligible = eligible_of.get(scope)
        if eligible is None:
            eligible = eligible_of[scope] = eligible_amount(
                in_scope_total=scope,
                principal=principal,
                order_amount=basket.amount,
                rounding=platform.rounding,
            )
        for term, tiers in campaign.term_tiers:
            term_priced = priced.get(term)
            if term_priced is None:
                continue  # the term is not offered to this merchant (or not within its limits)
            for tier in tiers:  # tier_for, inlined: this loop runs per campaign and term
                if tier.min_amount <= principal:
                    break
            else:
                continue
            share_bp = tier.share_bp
            amounts = term_priced.get(eligible * 10_001 + share_bp)
            if amounts is None:
                amounts = term_priced[eligible * 10_001 + share_bp] = pricing[term].amounts(
                    principal=principal, eligible=eligible, share_bp=share_bp
                )
            subsidy = amounts.merchant_subsidy
            if amounts.waived_fee == 0 and subsidy == 0:
                continue
            if subsidy > campaign.spend_limit:
                short[campaign.id] = campaign  # no fall-back to a lower tier (§4)
                continue
            current = best.get(term)
            if current is not None:
                # §4's order, a part at a time: the lowest C, then the lower M, then the ties'
                # order (rank_tail). Most candidates lose on C or M.
                held = current.amounts
                if amounts is not held:
                    fee, held_fee = amounts.consumer_fee, held.consumer_fee
                    if fee > held_fee:
                        continue
                    if fee == held_fee:
                        held_subsidy = held.merchant_subsidy
                        if subsidy > held_subsidy or (
                            subsidy == held_subsidy
                            and campaign.rank_tail >= current.campaign.rank_tail
                        ):
                            continue
                elif campaign.rank_tail >= current.campaign.rank_tail:
                    continue
            best[term] = _Candidate(amounts, campaign, tier, scope, eligible)
    return best, short


def terms_within_limits(
    *, term_rates: dict[int, TermRates], principal: int
) -> dict[int, TermRates]:
    """The terms whose limits admit ``P``; ``below_minimum`` or ``above_maximum`` when none does."""
    admitted = {
        term: rates
        for term, rates in term_rates.items()
        if rates.min_amount <= principal <= rates.max_amount
    }
    if admitted or not term_rates:
        return admitted
    if any(principal < rates.min_amount for rates in term_rates.values()):
        lowest = min(rates.min_amount for rates in term_rates.values())
        raise DomainError(
            "below_minimum",
            f"The financed amount {principal} is below every term's minimum.",
            minimum=lowest,
        )
    highest = max(rates.max_amount for rates in term_rates.values())
    raise DomainError(
        "above_maximum",
        f"The financed amount {principal} is above every term's maximum.",
        maximum=highest,
    )


# --------------------------------------------------------------------------------------------------
# The selector


def offers_match(
    *, merchant: Merchant, basket: Basket, at: datetime | None = None, recent: bool = False
) -> Matching:
    """Match a basket against the merchant's live campaigns at ``at`` (default: now).

    Returns every term offered for this basket, ordered by term: the chosen campaign offer priced
    with it, or the full consumer fee with no campaign; a term the merchant switched paid
    installments off for appears only with a campaign. Raises ``DomainError`` ``below_minimum`` or
    ``above_maximum`` when no term's limits admit the financed amount.

    ``recent`` (quotes only): the platform settings and fee terms may be this process's read from
    a moment up to ``API_KEY_RECENT_SECONDS`` before ``at`` (installments/selectors.py says why);
    campaigns and budgets are always read now."""
    at = at or timezone.now()
    pricing = recent_pricing_get(merchant_id=merchant.pk, at=at) if recent else None
    statements = []
    if pricing is None:
        statements += pricing_statements(merchant_id=merchant.pk, at=at)
    if not merchant.is_frozen:  # a frozen merchant's campaigns are not offered (§8)
        statements.append(
            live_budgets_statement(merchant=merchant, at=at, consumer_ref=basket.consumer_ref)
        )
    # One round trip for the reads (they are pipelined).
    results = fetch_prepared_many(statements) if statements else []
    if pricing is None:
        settings_rows, fee_rows, *results = results
        pricing = pricing_from_rows(settings_rows, fee_rows, at=at)
        recent_pricing_remember(
            merchant_id=merchant.pk, at=at, platform=pricing[0], terms=pricing[1]
        )
    platform, fee_terms = pricing
    return offers_price(
        merchant=merchant,
        basket=basket,
        at=at,
        platform=platform,
        fee_terms=fee_terms,
        campaigns=live_campaigns_from_rows(merchant.pk, results[0]) if results else (),
    )


def offers_price(
    *,
    merchant: Merchant,
    basket: Basket,
    at: datetime,
    platform: PlatformParameters,
    fee_terms: dict[int, TermRates],
    campaigns: Sequence[LiveCampaign],
) -> Matching:
    """Match and price a basket against campaigns already loaded, reading nothing: the rules and
    the maths of checkout. ``offers_match`` hands it what checkout sees (the live campaigns with
    their budgets read now); the back office's preview hands it a campaign being edited, so the
    preview cannot price differently from a quote."""
    principal = basket.financed_amount
    term_rates = terms_within_limits(term_rates=fee_terms, principal=principal)
    pricing = {
        term: TermPricing.of(
            consumer_rate=rates.consumer_rate,
            merchant_rate=rates.merchant_rate,
            rounding=platform.rounding,
        )
        for term, rates in term_rates.items()
    }
    best, short = choose_offers(
        campaigns=campaigns, basket=basket, pricing=pricing, platform=platform
    )
    purchase_date = timezone.localtime(at, zoneinfo.ZoneInfo(merchant.timezone)).date()
    disabled = set(merchant.paid_terms_disabled or ())
    matches = []
    for term, rates in term_rates.items():
        chosen = best.get(term)
        if chosen is None and term in disabled:
            continue
        price = pricing[term].plan(
            principal=principal,
            term=term,
            share_bp=chosen.tier.share_bp if chosen else 0,
            eligible=chosen.eligible if chosen else principal,
            purchase_date=purchase_date,
            statement_day=platform.statement_day,
            due_day=platform.due_day,
        )
        offer = None
        if chosen is not None:
            offer = CampaignOffer(
                campaign_id=chosen.campaign.id,
                campaign_name=chosen.campaign.name,
                offer_id=chosen.tier.offer_id,
                share_bp=chosen.tier.share_bp,
                offer_min_amount=chosen.tier.min_amount,
                in_scope_total=chosen.in_scope,
                eligible=chosen.eligible,
                lines_in_scope=tuple(line_in_scope(chosen.campaign, line) for line in basket.lines)
                if basket.lines
                else (),
            )
        matches.append(TermMatch(term=term, rates=rates, price=price, offer=offer))
    return Matching(
        at=at,
        purchase_date=purchase_date,
        platform=platform,
        basket=basket,
        terms=tuple(matches),
        budget_short=tuple(sorted(short, key=lambda pk: pk.int)),
        refusals_to_alert=tuple(
            sorted((pk for pk, c in short.items() if not c.refusal_alerted), key=lambda pk: pk.int)
        ),
    )
