"""Reads of plans and statements for the merchant back office; each is scoped to one merchant, so
another merchant's id is simply not found."""

from __future__ import annotations

import uuid

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet

from installments.plan_models import Plan, PlanInstallment, PlanLine, Refund
from installments.settlement import statement_list
from installments.settlement_models import Statement, StatementLine
from merchants.models import Merchant


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def plan_list_for_merchant(*, merchant: Merchant, test: bool) -> QuerySet[Plan]:
    """The merchant's plans of one mode (live or test, which lists keep apart, §3.5), newest first
    (the ``plan_list_idx`` index)."""
    return Plan.objects.filter(merchant=merchant, test=test).order_by("-created_at", "-id")


def plan_detail_get(*, merchant: Merchant, plan_id: object) -> Plan | None:
    """The merchant's plan of either mode with its schedule, lines and refunds, or None."""
    pk = _uuid(plan_id)
    if pk is None:
        return None
    return (
        Plan.objects.filter(merchant=merchant, pk=pk)
        .select_related("campaign")
        .prefetch_related(
            Prefetch(
                "installments",
                queryset=PlanInstallment.objects.filter(merchant=merchant).order_by("period"),
            ),
            Prefetch("lines", queryset=PlanLine.objects.filter(merchant=merchant)),
            Prefetch(
                "refunds",
                queryset=Refund.objects.filter(merchant=merchant).order_by("created_at", "id"),
            ),
        )
        .first()
    )


def statement_list_for_merchant(*, merchant: Merchant) -> QuerySet[Statement]:
    """The merchant's statements, newest first, each with ``line_count`` and ``has_adjustments``."""
    adjustments = StatementLine.objects.filter(
        merchant_id=merchant.pk, statement_id=OuterRef("pk"), adjustment=True
    )
    return statement_list(merchant_id=merchant.pk).annotate(
        line_count=Count("lines"), has_adjustments=Exists(adjustments)
    )


def statement_get(*, merchant: Merchant, statement_id: object) -> Statement | None:
    """The merchant's statement with its lines (adjustments last), or None."""
    pk = _uuid(statement_id)
    if pk is None:
        return None
    return (
        Statement.objects.filter(merchant=merchant, pk=pk)
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=StatementLine.objects.filter(merchant=merchant).order_by(
                    "adjustment", "campaign_name", "campaign_id"
                ),
            )
        )
        .first()
    )
