"""Reads of the pricing inputs in force at a moment: fee rates per term and platform settings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q

from installments.calculator import Rounding
from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings


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


def fee_terms_in_force(*, merchant_id: uuid.UUID | None, at: datetime) -> dict[int, TermRates]:
    """Every term offered to a merchant at ``at``: the platform table in force, with the merchant's
    negotiated overrides in force replacing (or adding) terms. Keyed and ordered by term.

    Versions are half-open: a version whose ``effective_from`` equals ``at`` is in force."""
    terms: dict[int, TermRates] = {}
    table = fee_table_in_force(at=at)
    if table is not None:
        for rate in FeeRate.objects.filter(fee_table=table).order_by("term"):
            terms[rate.term] = TermRates(
                term=rate.term,
                consumer_rate=rate.consumer_rate,
                merchant_rate=rate.merchant_rate,
                min_amount=rate.min_amount,
                max_amount=rate.max_amount,
                fee_table_id=table.pk,
                override_id=None,
            )
    if merchant_id is not None:
        overrides = (
            MerchantFeeOverride.objects.filter(merchant_id=merchant_id, effective_from__lte=at)
            .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=at))
            .order_by("term", "-effective_from", "-pk")
            .distinct("term")
        )
        for override in overrides:
            terms[override.term] = TermRates(
                term=override.term,
                consumer_rate=override.consumer_rate,
                merchant_rate=override.merchant_rate,
                min_amount=override.min_amount,
                max_amount=override.max_amount,
                fee_table_id=table.pk if table is not None else None,
                override_id=override.pk,
            )
    return dict(sorted(terms.items()))


def fee_term_in_force(
    *, merchant_id: uuid.UUID | None, at: datetime, term: int
) -> TermRates | None:
    """The rates in force for merchant M at time T for term n, or None when n is not offered."""
    return fee_terms_in_force(merchant_id=merchant_id, at=at).get(term)


def platform_settings_in_force(*, at: datetime) -> PlatformParameters:
    version = (
        PlatformSettings.objects.filter(effective_from__lte=at).order_by("-effective_from").first()
    )
    if version is None:
        raise NoPricingInForce(f"no platform settings are in force at {at.isoformat()}")
    return PlatformParameters(
        statement_day=version.statement_day,
        due_day=version.due_day,
        rounding=Rounding(version.rounding),
        auto_approval_threshold=version.auto_approval_threshold,
        version_id=version.pk,
    )
