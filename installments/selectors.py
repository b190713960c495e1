"""Reads of the pricing inputs in force at a moment: fee rates per term and platform settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from config.prepared import Statement, fetch_prepared, fetch_prepared_many
from installments.calculator import Rounding, price_plan
from installments.models import FeeTable


@dataclass(frozen=True, slots=True)
class TermRates:
    """The rates and limits for one term, as a plan will lock them."""

    term: int
    consumer_rate: Decimal
    merchant_rate: Decimal
    min_amount: int
    max_amount: int
    fee_table_id: int | None
    override_id: int | None

    @property
    def negotiated(self) -> bool:
        return self.override_id is not None


@dataclass(frozen=True, slots=True)
class PlatformParameters:
    statement_day: int
    due_day: int
    rounding: Rounding
    auto_approval_threshold: int
    version_id: int


class NoPricingInForce(LookupError):
    """No fee table or settings version is in force at that moment (a misconfigured platform)."""


def fee_table_in_force(*, at: datetime) -> FeeTable | None:
    return FeeTable.objects.filter(effective_from__lte=at).order_by("-effective_from").first()


# The platform table in force, with the merchant's overrides in force replacing (or adding) terms,
# in one round trip: quotes read this on every request, and the ORM's three queries cost more to
# build than to run.
_FEE_TERMS_SQL = """
WITH fee_table AS (
    SELECT id FROM installments_feetable WHERE effective_from <= %(at)s
     ORDER BY effective_from DESC LIMIT 1
), rate AS (
    SELECT r.* FROM installments_feerate r JOIN fee_table t ON r.fee_table_id = t.id
), override AS (
    SELECT DISTINCT ON (term) id, term, consumer_rate, merchant_rate, min_amount, max_amount
      FROM installments_merchantfeeoverride
     WHERE merchant_id = %(merchant)s AND effective_from <= %(at)s
       AND (effective_until IS NULL OR effective_until > %(at)s)
     ORDER BY term, effective_from DESC, id DESC
)
SELECT COALESCE(o.term, r.term), COALESCE(o.consumer_rate, r.consumer_rate),
       COALESCE(o.merchant_rate, r.merchant_rate),
       CASE WHEN o.id IS NULL THEN r.min_amount ELSE o.min_amount END,
       CASE WHEN o.id IS NULL THEN r.max_amount ELSE o.max_amount END,
       (SELECT id FROM fee_table), o.id
  FROM rate r FULL OUTER JOIN override o ON o.term = r.term
 ORDER BY 1
"""


def fee_terms_in_force(*, merchant_id: uuid.UUID | None, at: datetime) -> dict[int, TermRates]:
    """Every term offered to a merchant at ``at``: the platform table in force, with the merchant's
    negotiated overrides in force replacing (or adding) terms. Keyed and ordered by term.

    Versions are half-open: a version whose ``effective_from`` equals ``at`` is in force."""
    return fee_terms_from_rows(fetch_prepared(*fee_terms_statement(merchant_id=merchant_id, at=at)))


def fee_terms_statement(*, merchant_id: uuid.UUID | None, at: datetime) -> Statement:
    """The query of ``fee_terms_in_force``, for callers that pipeline it with others."""
    return _FEE_TERMS_SQL, {"merchant": merchant_id, "at": at}


def fee_terms_from_rows(rows: list[tuple]) -> dict[int, TermRates]:
    return {
        term: TermRates(
            term=term,
            consumer_rate=consumer_rate,
            merchant_rate=merchant_rate,
            min_amount=min_amount,
            max_amount=max_amount,
            fee_table_id=table_id,
            override_id=override_id,
        )
        for term, consumer_rate, merchant_rate, min_amount, max_amount, table_id, override_id in rows
    }


def fee_term_in_force(
    *, merchant_id: uuid.UUID | None, at: datetime, term: int
) -> TermRates | None:
    """The rates in force for merchant M at time T for term n, or None when n is not offered."""
    return fee_terms_in_force(merchant_id=merchant_id, at=at).get(term)


_PLATFORM_SETTINGS_SQL = """
SELECT id, statement_day, due_day, rounding, auto_approval_threshold
  FROM installments_platformsettings WHERE effective_from <= %(at)s
 ORDER BY effective_from DESC LIMIT 1
"""


def platform_settings_in_force(*, at: datetime) -> PlatformParameters:
    return platform_settings_from_rows(fetch_prepared(*platform_settings_statement(at=at)), at=at)


def platform_settings_statement(*, at: datetime) -> Statement:
    """The query of ``platform_settings_in_force``, for callers that pipeline it with others."""
    return _PLATFORM_SETTINGS_SQL, {"at": at}


def platform_settings_from_rows(rows: list[tuple], *, at: datetime) -> PlatformParameters:
    if not rows:
        raise NoPricingInForce(f"no platform settings are in force at {at.isoformat()}")
    version_id, statement_day, due_day, rounding, threshold = rows[0]
    return PlatformParameters(
        statement_day=statement_day,
        due_day=due_day,
        rounding=Rounding(rounding),
        auto_approval_threshold=threshold,
        version_id=version_id,
    )


Pricing = tuple[PlatformParameters, dict[int, TermRates]]


def pricing_statements(*, merchant_id: uuid.UUID | None, at: datetime) -> list[Statement]:
    """The two reads of what prices a basket at ``at`` (settings, then the merchant's fee terms),
    for callers that pipeline them with others."""
    return [platform_settings_statement(at=at), fee_terms_statement(merchant_id=merchant_id, at=at)]


def pricing_from_rows(
    settings_rows: list[tuple], fee_rows: list[tuple], *, at: datetime
) -> Pricing:
    return platform_settings_from_rows(settings_rows, at=at), fee_terms_from_rows(fee_rows)


def pricing_in_force(*, merchant_id: uuid.UUID | None, at: datetime) -> Pricing:
    """The platform settings and the merchant's fee terms in force at ``at``, in one round trip."""
    rows = fetch_prepared_many(pricing_statements(merchant_id=merchant_id, at=at))
    return pricing_from_rows(*rows, at=at)


# --------------------------------------------------------------------------------------------------
# Quotes' recent pricing inputs
#
# A quote moves no money (the commit re-prices from fresh reads and answers 409 offer_changed when
# the price moved), so, like its API-key lookup (merchants/recent_keys.py), a quote may use the
# platform settings and the merchant's fee terms this process read for a moment at most
# API_KEY_RECENT_SECONDS earlier. That saves two of the three statements on every quote. Saving
# a fee table, rate, override or settings version in this process forgets them at once
# (installments/apps.py); one saved in another process reaches quotes here within that window.

_recent_pricing: dict[uuid.UUID | None, tuple[datetime, PlatformParameters, dict[int, TermRates]]]
_recent_pricing = {}
_RECENT_PRICING_LIMIT = 10_000


def recent_pricing_get(
    *, merchant_id: uuid.UUID | None, at: datetime
) -> tuple[PlatformParameters, dict[int, TermRates]] | None:
    """The settings and fee terms read for a moment in ``[at − window, at]``, if any."""
    found = _recent_pricing.get(merchant_id)
    if found is None:
        return None
    read_at, platform, terms = found
    age = (at - read_at).total_seconds()
    if not 0 <= age <= settings.API_KEY_RECENT_SECONDS:
        return None
    return platform, terms


def recent_pricing_remember(
    *,
    merchant_id: uuid.UUID | None,
    at: datetime,
    platform: PlatformParameters,
    terms: dict[int, TermRates],
) -> None:
    if len(_recent_pricing) >= _RECENT_PRICING_LIMIT:
        _recent_pricing.clear()
    _recent_pricing[merchant_id] = (at, platform, terms)


def recent_pricing_forget(**_: object) -> None:
    """Forget every recent read (a signal receiver too: pricing inputs were saved or deleted)."""
    _recent_pricing.clear()


@dataclass(frozen=True, slots=True)
class TermPreview:
    """What one term of a fee table means for a sample price (DESIGN.md §3.2, priced by the
    calculator): the consumer's fee and APR with no campaign, and what a merchant pays to make
    the term free. ``in_limits`` is False when the sample is outside the term's amount limits
    (the term would not be offered; the figures show what it would cost anyway)."""

    term: int
    consumer_rate: Decimal
    merchant_rate: Decimal
    min_amount: int
    max_amount: int
    in_limits: bool
    consumer_fee: int
    apr: str
    total_payable: int
    first_installment: int
    later_installments: int
    merchant_cost_free: int
    first_due: date


def fee_table_preview(
    *, fee_table: FeeTable, principal: int, purchase_date: date
) -> list[TermPreview]:
    """Every term of ``fee_table`` priced for ``principal`` bought on ``purchase_date``, with the
    statement and due days and rounding of the platform settings in force when the table starts."""
    settings_at = max(fee_table.effective_from, timezone.now())
    try:
        platform = platform_settings_in_force(at=settings_at)
    except NoPricingInForce:
        platform = PlatformParameters(1, 10, Rounding.HALF_UP, 0, 0)
    previews = []
    for rate in fee_table.rates.order_by("term"):
        common = {
            "principal": principal,
            "term": rate.term,
            "consumer_rate": rate.consumer_rate,
            "merchant_rate": rate.merchant_rate,
            "purchase_date": purchase_date,
            "statement_day": platform.statement_day,
            "due_day": platform.due_day,
            "rounding": platform.rounding,
        }
        paid = price_plan(share_bp=0, **common)
        free = price_plan(share_bp=10_000, with_apr=False, **common)
        previews.append(
            TermPreview(
                term=rate.term,
                consumer_rate=rate.consumer_rate,
                merchant_rate=rate.merchant_rate,
                min_amount=rate.min_amount,
                max_amount=rate.max_amount,
                in_limits=rate.min_amount <= principal <= rate.max_amount,
                consumer_fee=paid.consumer_fee,
                apr=paid.apr or "0.00",
                total_payable=paid.total_payable,
                first_installment=paid.schedule[0].amount,
                later_installments=paid.schedule[-1].amount,
                merchant_cost_free=free.merchant_subsidy,
                first_due=paid.schedule[0].due_date,
            )
        )
    return previews
