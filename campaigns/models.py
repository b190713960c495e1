"""Interest-free campaigns (DESIGN.md §4): a merchant pays all or part of the installment fee on the
offers it defines, within a window, a product scope, stores, channels and a budget."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    PAUSED = "paused", "Paused"
    ENDED = "ended", "Ended"
    CANCELLED = "cancelled", "Cancelled"


class Channel(models.TextChoices):
    ONLINE = "online", "Online"
    IN_STORE = "in_store", "In store"


def _all_channels() -> list[str]:
    return [Channel.ONLINE.value, Channel.IN_STORE.value]


class Campaign(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(max_length=60)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    # Scope (§3.3): all products, or categories and SKUs; excluded SKUs are taken out either way.
    all_products = models.BooleanField(default=True)
    categories = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    skus = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    exclude_skus = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    # The merchant's store codes; empty means every store.
    stores = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    channels = ArrayField(models.CharField(max_length=16), default=_all_channels)
    # Order limits on the financed amount P, inside the platform's (minor units).
    min_amount = models.BigIntegerField(null=True, blank=True)
    max_amount = models.BigIntegerField(null=True, blank=True)

    # Budget (§5), minor units.
    budget_total = models.BigIntegerField()
    daily_cap = models.BigIntegerField(null=True, blank=True)
    alert_threshold_bp = models.PositiveIntegerField(default=8000)
    alert_emails = ArrayField(models.EmailField(), default=list, blank=True)
    per_consumer_limit = models.PositiveIntegerField(null=True, blank=True)
    # Σ charges − Σ reversals on this campaign; changed only by conditional UPDATEs (§5).
    budget_used = models.BigIntegerField(default=0)
    # A raise above the auto-approval threshold waits here for an operator (§4).
    pending_budget_total = models.BigIntegerField(null=True, blank=True)
    # Alerts (§5) fire once per arming; every applied raise re-arms both by bumping ``alert_arm``.
    # An alert has fired for the current arming when its ``*_alert_arm`` equals ``alert_arm``.
    alert_arm = models.PositiveIntegerField(default=0)
    threshold_alert_arm = models.PositiveIntegerField(null=True, blank=True)
    refusal_alert_arm = models.PositiveIntegerField(null=True, blank=True)

    stacks_with_government_subsidy = models.BooleanField(default=True)
    rejection_reason = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    duplicated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="campaign_window_order"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(budget_total__gt=0), name="campaign_budget_positive"
            ),
            models.CheckConstraint(
                condition=Q(budget_used__gte=0, budget_used__lte=F("budget_total")),
                name="campaign_budget_used_within_total",
            ),
            models.CheckConstraint(
                condition=Q(daily_cap__isnull=True) | Q(daily_cap__gt=0),
                name="campaign_daily_cap_positive",
            ),
            models.CheckConstraint(
                condition=Q(alert_threshold_bp__gte=1, alert_threshold_bp__lte=10000),
                name="campaign_alert_threshold_bp",
            ),
            models.CheckConstraint(
                condition=Q(per_consumer_limit__isnull=True) | Q(per_consumer_limit__gte=1),
                name="campaign_per_consumer_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(min_amount__gt=0),
                name="campaign_min_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(max_amount__isnull=True)
                | Q(min_amount__isnull=True)
                | Q(max_amount__gte=F("min_amount")),
                name="campaign_amount_limits_order",
            ),
            models.CheckConstraint(
                condition=Q(pending_budget_total__isnull=True)
                | Q(pending_budget_total__gt=F("budget_total")),
                name="campaign_pending_budget_is_a_raise",
            ),
            models.CheckConstraint(
                condition=Q(all_products=True) | ~Q(categories=[], skus=[]),
                name="campaign_scope_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(channels__contained_by=Channel.values) & ~Q(channels=[]),
                name="campaign_channels_valid",
            ),
        ]
        indexes = [
            # Matching reads one merchant's approved campaigns whose window is open (§4, §11).
            models.Index(
                fields=["merchant", "ends_at", "starts_at"],
                condition=Q(status="approved"),
                name="campaign_live_idx",
            ),
            models.Index(fields=["merchant", "status", "-created_at"], name="campaign_list_idx"),
            models.Index(fields=["status", "ends_at"], name="campaign_due_to_end_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def budget_remaining(self) -> int:
        return self.budget_total - self.budget_used


class Offer(models.Model):
    """``(term, merchant share, minimum financed amount)``. Several on one term are tiers: the one with
    the highest minimum not above P applies."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="offers")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    term = models.PositiveSmallIntegerField()
    merchant_share_bp = models.PositiveIntegerField()
    min_amount = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["term", "min_amount"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "campaign", "term", "min_amount"], name="offer_tier_unique"
            ),
            models.CheckConstraint(
                condition=Q(merchant_share_bp__gte=1, merchant_share_bp__lte=10000),
                name="offer_share_bp_range",
            ),
            models.CheckConstraint(condition=Q(term__gte=2, term__lte=36), name="offer_term_range"),
            models.CheckConstraint(condition=Q(min_amount__gte=0), name="offer_min_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.term} terms, {self.merchant_share_bp} bp from {self.min_amount}"


class CampaignEvent(models.Model):
    """The audit trail: every change to a campaign, who made it, when, and the state before and after."""

    class ActorKind(models.TextChoices):
        MERCHANT = "merchant", "Merchant"
        OPERATOR = "operator", "Operator"
        SYSTEM = "system", "System"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=120)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["merchant", "campaign", "created_at"], name="cevent_idx")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"


class CampaignDailyUsage(models.Model):
    """Budget used on one merchant-local day: what the daily cap is checked against (§5)."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    used = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "campaign", "day"], name="campaign_daily_usage_unique"
            ),
            models.CheckConstraint(condition=Q(used__gte=0), name="campaign_daily_used_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.used}"


class CampaignConsumerUsage(models.Model):
    """Subsidised plans one consumer holds in a campaign: the per-consumer limit's counter (§4)."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="consumer_usage")
    consumer_ref = models.CharField(max_length=128)
    plans = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "campaign", "consumer_ref"],
                name="campaign_consumer_usage_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.consumer_ref}: {self.plans}"


class CampaignAlert(models.Model):
    """A budget notice (§5): the alert threshold crossed, or the first refusal for lack of budget.

    One per campaign, kind and arming (the database refuses a second). It doubles as the e-mail's
    outbox: ``emailed_at`` stays empty until the e-mail went out, so the sweep re-sends what a lost
    task never delivered."""

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", "Alert threshold reached"
        BUDGET_REFUSED = "budget_refused", "Refused for lack of budget"

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    arm = models.PositiveIntegerField()
    budget_total = models.BigIntegerField()
    budget_used = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    recipients = ArrayField(models.EmailField(), default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "campaign", "kind", "arm"], name="campaign_alert_once_per_arm"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["threshold", "budget_refused"]), name="campaign_alert_kind"
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(emailed_at__isnull=True),
                name="campaign_alert_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.campaign_id})"


class CampaignDefinitionVersion(models.Model):
    """A stamp that a database trigger (migration 0004) moves in the same transaction as any change
    to a merchant's campaign definitions or offers; matching caches definitions per process keyed
    by it. Values come from a sequence, so a rolled-back change never hands a used stamp out again.
    Its own table, so no ``Merchant.save()`` can write a stale stamp back."""

    merchant = models.OneToOneField(
        "merchants.Merchant", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    version = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.merchant_id}: {self.version}"
