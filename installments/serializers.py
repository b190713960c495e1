"""The checkout API's JSON (DESIGN.md §6): strict requests (JSON integers for amounts, unknown keys
refused) and the quote, plan and refund representations."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from campaigns.matching import Basket, BasketLine
from campaigns.models import Channel
from installments.plan_models import Plan, PlanStatus, Refund
from installments.quotes import Quote, option_json, schedule_json
from installments.settlement_models import Statement
from merchants.api_base import (
    MAX_AMOUNT_MINOR,
    StrictCharField,
    StrictIntegerField,
    StrictObjectSerializerMixin,
)

MAX_LINES = 500


class LineSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    sku = StrictCharField(max_length=64)
    category = StrictCharField(max_length=64, allow_blank=True)
    amount = StrictIntegerField(min_value=0)


class RefundLineSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    sku = StrictCharField(max_length=64)
    category = StrictCharField(max_length=64, allow_blank=True, required=False)
    amount = StrictIntegerField(min_value=1)


class QuoteRequestSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    currency = StrictCharField(min_length=3, max_length=3)
    amount = StrictIntegerField(min_value=1)
    government_subsidy = StrictIntegerField(min_value=0, required=False, default=0)
    store = StrictCharField(max_length=32, required=False, allow_null=True, default=None)
    channel = serializers.ChoiceField(
        choices=Channel.values, required=False, allow_null=True, default=None
    )
    lines = LineSerializer(many=True, required=False, allow_null=True, default=None)
    consumer_ref = StrictCharField(
        max_length=128, required=False, allow_null=True, allow_blank=False, default=None
    )

    def validate_lines(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is not None and not 1 <= len(value) <= MAX_LINES:
            raise serializers.ValidationError(f"Send 1 to {MAX_LINES} lines, or leave lines out.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["government_subsidy"] >= attrs["amount"]:
            raise serializers.ValidationError(
                {"government_subsidy": ["Must be less than the amount."]}
            )
        lines = attrs.get("lines")
        if lines is not None and sum(line["amount"] for line in lines) != attrs["amount"]:
            raise serializers.ValidationError({"lines": ["The lines must sum to the amount."]})
        return attrs

    def to_basket(self) -> Basket:
        data = self.validated_data
        lines = data.get("lines")
        return Basket(
            amount=data["amount"],
            government_subsidy=data["government_subsidy"],
            lines=None
            if lines is None
            else tuple(BasketLine(line["sku"], line["category"], line["amount"]) for line in lines),
            store=data.get("store"),
            channel=data.get("channel"),
            consumer_ref=data.get("consumer_ref"),
        )


# --------------------------------------------------------------------------------------------------
# The quote request's fast path
#
# Every checkout asks for a quote, and DRF's serializer cost more than the matching it feeds (it
# deep-copies its fields per request). ``quote_request_basket`` takes the common well-formed body in
# a few plain checks, each of which only ever accepts what the serializer above would accept
# unchanged; anything else (an error, a string to trim, a lone surrogate …) goes to the serializer,
# which decides and words the errors. tests/installments/test_quote_fast_path.py holds the two to
# the same answers.

_QUOTE_KEYS = frozenset(QuoteRequestSerializer._declared_fields)
_LINE_KEYS = frozenset(LineSerializer._declared_fields)
_CHANNELS = frozenset(Channel.values)


def _plain(value: Any, *, max_length: int, min_length: int = 1) -> bool:
    """A string DRF's ``CharField`` keeps as it is: no whitespace to trim, no NUL, no surrogate."""
    if type(value) is not str or not min_length <= len(value) <= max_length:
        return False
    if value != value.strip() or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _minor(value: Any, *, minimum: int) -> bool:
    return type(value) is int and minimum <= value <= MAX_AMOUNT_MINOR


def _line(value: Any) -> BasketLine | None:
    if type(value) is not dict or value.keys() != _LINE_KEYS:
        return None
    sku, category, amount = value["sku"], value["category"], value["amount"]
    if not (
        _plain(sku, max_length=64)
        and _plain(category, max_length=64, min_length=0)
        and _minor(amount, minimum=0)
    ):
        return None
    return BasketLine(sku, category, amount)


def quote_request_basket(data: Any) -> tuple[str, Basket] | None:
    """The currency and basket of a well-formed quote request, or None: then ask the serializer."""
    if type(data) is not dict or not data.keys() <= _QUOTE_KEYS:
        return None
    currency, amount = data.get("currency"), data.get("amount")
    subsidy = data.get("government_subsidy", 0)
    store, channel = data.get("store"), data.get("channel")
    consumer_ref, raw_lines = data.get("consumer_ref"), data.get("lines")
    if not (
        _plain(currency, min_length=3, max_length=3)
        and _minor(amount, minimum=1)
        and _minor(subsidy, minimum=0)
        and subsidy < amount
        and (store is None or _plain(store, max_length=32))
        and (channel is None or (type(channel) is str and channel in _CHANNELS))
        and (consumer_ref is None or _plain(consumer_ref, max_length=128))
    ):
        return None
    lines = None
    if raw_lines is not None:
        if type(raw_lines) is not list or not 1 <= len(raw_lines) <= MAX_LINES:
            return None
        lines = tuple(map(_line, raw_lines))
        if None in lines or sum(line.amount for line in lines) != amount:  # type: ignore[union-attr]
            return None
    basket = Basket(
        amount=amount,
        government_subsidy=subsidy,
        lines=lines,  # type: ignore[arg-type]
        store=store,
        channel=channel,
        consumer_ref=consumer_ref,
    )
    return currency, basket


class PlanCreateSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    quote_id = StrictCharField(max_length=65536)  # a signed token; 500 lines fit comfortably
    term = StrictIntegerField(min_value=1, max_value=360)
    merchant_order_ref = StrictCharField(max_length=128)


class RefundCreateSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    amount = StrictIntegerField(min_value=1)
    refund_ref = StrictCharField(max_length=128)
    lines = RefundLineSerializer(many=True, required=False, allow_null=True, default=None)
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_lines(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is not None and len(value) > MAX_LINES:
            raise serializers.ValidationError(f"At most {MAX_LINES} lines.")
        return value


class EmptySerializer(StrictObjectSerializerMixin, serializers.Serializer):
    """A body-less action (void): an empty object, or no body at all."""


def _local(value: Any, tz: zoneinfo.ZoneInfo) -> str | None:
    return timezone.localtime(value, tz).isoformat() if value else None


def quote_json(quote: Quote, *, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    basket = quote.matching.basket
    return {
        "quote_id": quote.quote_id,
        "expires_at": _local(quote.expires_at, tz),
        "currency": quote.currency,
        "amount": basket.amount,
        "government_subsidy": basket.government_subsidy,
        "financed_amount": basket.financed_amount,
        "options": [option_json(match) for match in quote.matching.terms],
    }


def plan_json(plan: Plan, *, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """A plan as the API shows it; what it was priced with is part of it."""
    installments = (
        list(plan.installments.all()) if plan.status == PlanStatus.ACTIVE else []
    )  # voided and fully refunded plans have none
    return {
        "id": str(plan.pk),
        "status": plan.status,
        "test": plan.test,
        "merchant_order_ref": plan.merchant_order_ref,
        "term": plan.term,
        "currency": plan.currency,
        "order_amount": plan.order_amount,
        "government_subsidy": plan.government_subsidy,
        "financed_amount": plan.financed_amount,
        "original_financed_amount": plan.original_financed_amount,
        "eligible_amount": plan.eligible_amount,
        "consumer_fee_full": plan.consumer_fee_full,
        "waived_fee": plan.waived_fee,
        "consumer_fee": plan.consumer_fee,
        "merchant_subsidy": plan.merchant_subsidy,
        "interest_free": plan.consumer_fee == 0,
        "total_payable": plan.financed_amount + plan.consumer_fee,
        "apr": plan.apr,
        "campaign": {"id": str(plan.campaign_id), "name": plan.campaign_name}
        if plan.campaign_id
        else None,
        "pricing": {
            "consumer_rate": str(plan.consumer_rate.normalize()),
            "merchant_rate": str(plan.merchant_rate.normalize()),
            "merchant_share_bp": plan.share_bp,
            "statement_day": plan.statement_day,
            "due_day": plan.due_day,
            "rounding": plan.rounding,
            "purchase_date": plan.purchase_date.isoformat(),
        },
        "consumer_ref": plan.consumer_ref or None,
        "store": plan.store or None,
        "channel": plan.channel or None,
        "schedule": schedule_json(installments),
        "lines": [
            {
                "sku": line.sku,
                "category": line.category,
                "amount": line.amount,
                "in_scope": line.in_scope,
                "returned": line.returned,
            }
            for line in plan.lines.all()
        ],
        "refunded_amount": plan.refunded_amount,
        "created_at": _local(plan.created_at, tz),
        "voided_at": _local(plan.voided_at, tz),
    }


def refund_json(
    refund: Refund, *, tz: zoneinfo.ZoneInfo, plan: Plan | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(refund.pk),
        "plan_id": str(refund.plan_id),
        "refund_ref": refund.refund_ref,
        "amount": refund.amount,
        "lines": refund.lines,
        "reason": refund.reason,
        "subsidy_reversed": refund.subsidy_reversed,
        "created_at": _local(refund.created_at, tz),
    }
    if plan is not None:
        body["plan"] = plan_json(plan, tz=tz)
    return body


def statement_json(statement: Statement, *, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "id": str(statement.pk),
        "business_date": statement.business_date.isoformat(),
        "currency": statement.currency,
        "plans_charged": statement.plans_charged,
        "charges": statement.charges,
        "reversals": statement.reversals,
        "net": statement.net,
        "created_at": timezone.localtime(statement.created_at, tz).isoformat(),
        "lines": [
            {
                "campaign_id": str(line.campaign_id),
                "campaign_name": line.campaign_name,
                "adjustment": line.adjustment,
                "plans_charged": line.plans_charged,
                "charges": line.charges,
                "reversals": line.reversals,
                "net": line.net,
            }
            for line in statement.lines.all()
        ],
    }
