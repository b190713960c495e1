"""Plans, their schedules, basket lines and refunds (DESIGN.md §3.2–§3.5), and the stored outcomes of
idempotent API requests (§6).

A plan snapshots everything it was priced with (rates, share, E, A, L, the campaign's id and name,
the days and the rounding), so later edits to a campaign, a fee table or a setting never change it.
Amounts are integer minor units."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q


class PlanStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    VOIDED = "voided", "Voided"
    REFUNDED = "refunded", "Refunded"


class Plan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    test = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    merchant_order_ref = models.CharField(max_length=128)
    consumer_ref = models.CharField(max_length=128, blank=True)
    store = models.CharField(max_length=32, blank=True)
    channel = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3)
    term = models.PositiveSmallIntegerField()

    # The basket as committed: A, G, P0 (the financed amount at commit).
    order_amount = models.BigIntegerField()
    government_subsidy = models.BigIntegerField(default=0)
    original_financed_amount = models.BigIntegerField()

    # The plan as it stands now (re-priced by refunds, §3.4): P, E, F, W, C, M and the APR.
    financed_amount = models.BigIntegerField()
    eligible_amount = models.BigIntegerField()
    consumer_fee_full = models.BigIntegerField()
    waived_fee = models.BigIntegerField()
    consumer_fee = models.BigIntegerField()
    merchant_subsidy = models.BigIntegerField()
    apr = models.CharField(max_length=12)
    refunded_amount = models.BigIntegerField(default=0)
    # A' and L' (§3.4): the order amount and in-scope line total less the lines refunds returned.
    order_amount_remaining = models.BigIntegerField()
    in_scope_remaining = models.BigIntegerField()

    # What it was priced with, locked at commit.
    consumer_rate = models.DecimalField(max_digits=7, decimal_places=6)
    merchant_rate = models.DecimalField(max_digits=7, decimal_places=6)
    share_bp = models.PositiveIntegerField(default=0)
    statement_day = models.PositiveSmallIntegerField()
    due_day = models.PositiveSmallIntegerField()
    rounding = models.CharField(max_length=16)
    purchase_date = models.DateField()
    fee_table_id = models.BigIntegerField(null=True, blank=True)
    fee_override_id = models.BigIntegerField(null=True, blank=True)
    platform_settings_id = models.BigIntegerField(null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    campaign_name = models.CharField(max_length=60, blank=True)
    offer_id = models.BigIntegerField(null=True, blank=True)
    offer_min_amount = models.BigIntegerField(null=True, blank=True)
    # The merchant-local day the subsidy was charged: reversals return budget to it (§5).
    charge_day = models.DateField(null=True, blank=True)

    created_at = models.DateTimeField()
    voided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "test", "merchant_order_ref"], name="plan_order_ref_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=PlanStatus.values), name="plan_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0)
                & Q(refunded_amount__lte=F("original_financed_amount")),
                name="plan_refunds_within_principal",
            ),
            models.CheckConstraint(
                condition=Q(financed_amount=F("original_financed_amount") - F("refunded_amount")),
                name="plan_principal_is_original_less_refunds",
            ),
            models.CheckConstraint(
                condition=Q(consumer_fee=F("consumer_fee_full") - F("waived_fee"))
                & Q(consumer_fee__gte=0)
                & Q(merchant_subsidy__gte=0),
                name="plan_fee_parts",
            ),
            models.CheckConstraint(
                condition=Q(original_financed_amount=F("order_amount") - F("government_subsidy"))
                & Q(original_financed_amount__gt=0),
                name="plan_financed_is_order_less_subsidy",
            ),
            models.CheckConstraint(
                condition=Q(campaign__isnull=True) | Q(charge_day__isnull=False),
                name="plan_campaign_has_charge_day",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "test", "-created_at"], name="plan_list_idx"),
            models.Index(fields=["merchant", "campaign", "status"], name="plan_campaign_idx"),
            # The operators' console lists every merchant's plans newest first (the admin's
            # changelist on millions of plans reads the first page from this, never sorts).
            models.Index(fields=["-created_at", "id"], name="plan_created_idx"),
            # Operators find a plan by its order or consumer reference without knowing the
            # merchant (support calls); most plans have no consumer reference.
            models.Index(fields=["merchant_order_ref"], name="plan_order_ref_idx"),
            models.Index(
                fields=["consumer_ref"], condition=~Q(consumer_ref=""), name="plan_consumer_ref_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.merchant_order_ref} ({self.term} terms)"


class PlanInstallment(models.Model):
    """One period of the plan's current schedule; refunds replace the schedule (§3.4 step 3)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="installments")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    period = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    principal = models.BigIntegerField()
    fee = models.BigIntegerField()

    class Meta:
        ordering = ["period"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "plan", "period"], name="plan_installment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period}: {self.principal}+{self.fee}"

    @property
    def amount(self) -> int:
        return self.principal + self.fee


class PlanLine(models.Model):
    """A basket line as committed, and how much of it refunds have returned."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="lines")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    position = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64)
    category = models.CharField(max_length=64)
    amount = models.BigIntegerField()
    in_scope = models.BooleanField()
    returned = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "plan", "position"], name="plan_line_unique"
            ),
            models.CheckConstraint(
                condition=Q(returned__gte=0) & Q(returned__lte=F("amount")),
                name="plan_line_returned_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.amount}"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="refunds")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    test = models.BooleanField(default=False)
    refund_ref = models.CharField(max_length=128)
    amount = models.BigIntegerField()
    lines = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    subsidy_reversed = models.BigIntegerField()
    # The plan's figures just before and after this refund, for the trace (§3.4).
    financed_before = models.BigIntegerField()
    financed_after = models.BigIntegerField()
    consumer_fee_after = models.BigIntegerField()
    merchant_subsidy_after = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "test", "refund_ref"], name="refund_ref_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(subsidy_reversed__gte=0), name="refund_reversal_nonnegative"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "plan", "created_at"], name="refund_plan_idx")]

    def __str__(self) -> str:
        return f"{self.refund_ref}: {self.amount}"


class IdempotencyRecord(models.Model):
    """A stored API outcome (§6): replayed byte for byte for a retry with the same key and body.

    Written in the same transaction as the work it records, so a crash leaves no row and no
    stuck key; a request in flight holds a transaction-scoped advisory lock on its key."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    mode = models.CharField(max_length=8)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    body = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "mode", "method", "path", "key"],
                name="idempotency_key_unique",
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
