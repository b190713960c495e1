"""The campaign's JSON (DESIGN.md §6), in and out. Times are shown in the merchant's time zone."""

from __future__ import annotations

import dataclasses
import zoneinfo
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from campaigns.models import Campaign, CampaignStatus, Channel
from campaigns.selectors import (
    MerchantPricing,
    campaign_budget_figures,
    campaign_shown_state,
    merchant_pricing,
)
from campaigns.services import (
    CampaignInput,
    OfferInput,
    campaign_input_from,
    window_time_exists,
)
from merchants.api_base import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictObjectSerializerMixin,
)
from merchants.models import Merchant

READ_ONLY = {
    "id",
    "status",
    "shown_state",
    "budget_used",
    "budget_used_today",
    "budget_remaining",
    "pending_budget_total",
    "rejection_reason",
    "created_at",
    "updated_at",
    "submitted_at",
    "reviewed_at",
    "duplicated_from",
}


_TOP_LEVEL_INPUTS = (
    "name",
    "description",
    "starts_at",
    "ends_at",
    "stores",
    "channels",
    "min_amount",
    "max_amount",
    "per_consumer_limit",
    "stacks_with_government_subsidy",
)
_BUDGET_INPUTS = {
    "total": "budget_total",
    "daily_cap": "daily_cap",
    "alert_threshold_bp": "alert_threshold_bp",
    "alert_emails": "alert_emails",
}


class OfferSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    term = StrictIntegerField(min_value=2, max_value=36)
    merchant_share_bp = StrictIntegerField(min_value=1, max_value=10000)
    min_amount = StrictIntegerField(required=False, default=0)


class ScopeSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    all_products = StrictBooleanField(required=False, default=True)
    categories = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, default=list, max_length=500
    )
    skus = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, default=list, max_length=500
    )
    exclude_skus = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, default=list, max_length=500
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values = super().to_internal_value(data)
        # Naming categories or SKUs without saying all_products means a restricted scope.
        if isinstance(data, dict) and "all_products" not in data and not self.root.partial:
            values["all_products"] = not (values.get("categories") or values.get("skus"))
        return values


class BudgetSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    total = StrictIntegerField(min_value=1)
    daily_cap = StrictIntegerField(min_value=1, required=False, allow_null=True, default=None)
    alert_threshold_bp = StrictIntegerField(
        min_value=1, max_value=10000, required=False, default=8000
    )
    alert_emails = serializers.ListField(
        child=serializers.EmailField(), required=False, default=list, max_length=20
    )


class WindowTimeField(serializers.DateTimeField):
    """A campaign time: ISO 8601, read in the merchant's zone when it has no offset, and one that
    exists in UTC (a time at the calendar's very edge does not: 400, not a 500)."""

    def to_internal_value(self, value: Any) -> Any:
        try:
            parsed = super().to_internal_value(value)
        except (OverflowError, ValueError):
            self.fail("invalid", format="ISO 8601")
        if not window_time_exists(parsed):
            self.fail("invalid", format="ISO 8601")
        return parsed


class CampaignSerializer(StrictObjectSerializerMixin, serializers.Serializer):
    """Writable fields are those a merchant sets; the budget figures and status are read-only."""

    id = serializers.UUIDField(read_only=True)
    name = StrictCharField(max_length=60)
    description = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")
    status = serializers.CharField(read_only=True)
    shown_state = serializers.CharField(read_only=True)
    starts_at = WindowTimeField()
    ends_at = WindowTimeField()
    offers = OfferSerializer(many=True, allow_empty=False, max_length=36)
    scope = ScopeSerializer(required=False)
    stores = serializers.ListField(
        child=StrictCharField(max_length=32), required=False, default=list, max_length=500
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.values),
        required=False,
        allow_empty=False,
        default=lambda: list(Channel.values),
    )
    min_amount = StrictIntegerField(min_value=1, required=False, allow_null=True, default=None)
    max_amount = StrictIntegerField(min_value=1, required=False, allow_null=True, default=None)
    budget = BudgetSerializer()
    per_consumer_limit = StrictIntegerField(
        min_value=1, max_value=1_000_000, required=False, allow_null=True, default=None
    )
    stacks_with_government_subsidy = StrictBooleanField(required=False, default=True)
    budget_used = serializers.IntegerField(read_only=True)
    budget_used_today = serializers.IntegerField(read_only=True)
    budget_remaining = serializers.IntegerField(read_only=True)
    pending_budget_total = serializers.IntegerField(read_only=True, allow_null=True)
    rejection_reason = serializers.CharField(read_only=True)
    duplicated_from = serializers.UUIDField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def __init__(self, *args: Any, merchant: Merchant | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Without a merchant (only when the OpenAPI schema is generated) the platform's zone is used.
        self.merchant = merchant or Merchant(timezone="Asia/Shanghai")
        self.tz = zoneinfo.ZoneInfo(self.merchant.timezone)
        # A time without an offset is read in the merchant's time zone.
        for name in ("starts_at", "ends_at"):
            self.fields[name].timezone = self.tz

    read_only_keys = frozenset(READ_ONLY)

    def to_campaign_input(self, base: Campaign | None = None) -> CampaignInput:
        """The validated body as a service input. A partial update (PATCH) keeps what it does not
        name: DRF leaves unsent fields, nested ones included, out of ``validated_data``."""
        values = dict(self.validated_data)
        present: dict[str, Any] = {
            name: values[name] for name in _TOP_LEVEL_INPUTS if name in values
        }
        for name, value in values.get("scope", {}).items():
            present[name] = value
        for name, value in values.get("budget", {}).items():
            present[_BUDGET_INPUTS[name]] = value
        if "offers" in values:
            present["offers"] = [OfferInput(**offer) for offer in values["offers"]]
        if self.partial and base is not None:
            return dataclasses.replace(campaign_input_from(base), **present)
        return CampaignInput(**present)

    def _pricing(self) -> MerchantPricing:
        # Rates are read once per response, not once per campaign of a page.
        pricing = self.context.get("merchant_pricing")
        if pricing is None:
            pricing = merchant_pricing(merchant=self.merchant)
            self.context["merchant_pricing"] = pricing
        return pricing

    def to_representation(self, instance: Campaign) -> dict[str, Any]:
        figures = campaign_budget_figures(instance, merchant=self.merchant)

        def local(value: Any) -> str | None:
            return timezone.localtime(value, self.tz).isoformat() if value else None

        return {
            "id": str(instance.pk),
            "name": instance.name,
            "description": instance.description,
            "status": instance.status,
            "shown_state": campaign_shown_state(
                instance,
                merchant=self.merchant,
                pricing=self._pricing() if instance.status == CampaignStatus.APPROVED else None,
            ),
            "starts_at": local(instance.starts_at),
            "ends_at": local(instance.ends_at),
            "offers": [
                {
                    "term": o.term,
                    "merchant_share_bp": o.merchant_share_bp,
                    "min_amount": o.min_amount,
                }
                for o in sorted(instance.offers.all(), key=lambda o: (o.term, o.min_amount))
            ],
            "scope": {
                "all_products": instance.all_products,
                "categories": list(instance.categories),
                "skus": list(instance.skus),
                "exclude_skus": list(instance.exclude_skus),
            },
            "stores": list(instance.stores),
            "channels": list(instance.channels),
            "min_amount": instance.min_amount,
            "max_amount": instance.max_amount,
            "budget": {
                "total": instance.budget_total,
                "daily_cap": instance.daily_cap,
                "alert_threshold_bp": instance.alert_threshold_bp,
                "alert_emails": list(instance.alert_emails),
            },
            "per_consumer_limit": instance.per_consumer_limit,
            "stacks_with_government_subsidy": instance.stacks_with_government_subsidy,
            "budget_used": figures.used,
            "budget_used_today": figures.used_today,
            "budget_remaining": figures.remaining,
            "pending_budget_total": instance.pending_budget_total,
            "rejection_reason": instance.rejection_reason,
            "duplicated_from": str(instance.duplicated_from_id)
            if instance.duplicated_from_id
            else None,
            "created_at": local(instance.created_at),
            "updated_at": local(instance.updated_at),
        }
