"""Pricing inputs owned by operators: versioned fee tables, per-merchant negotiated rates and the
platform settings (DESIGN.md §3.1). A plan copies what was in force when it was committed, so a later
version never changes an existing plan."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from installments.calculator import Rounding

MIN_TERM, MAX_TERM = 2, 36
RATE_MAX_DIGITS, RATE_DECIMAL_PLACES = 7, 6  # 0.000000 … 0.999999

_rate_validators = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("0.999999"))]
_term_validators = [MinValueValidator(MIN_TERM), MaxValueValidator(MAX_TERM)]


def _rate_field(verbose_name: str) -> models.DecimalField:
    return models.DecimalField(
        verbose_name,
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        validators=_rate_validators,
    )


def _term_rate_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(
            condition=Q(term__gte=MIN_TERM, term__lte=MAX_TERM), name=f"{prefix}_term_range"
        ),
        models.CheckConstraint(
            condition=Q(consumer_rate__gte=0, consumer_rate__lt=1), name=f"{prefix}_consumer_rate"
        ),
        models.CheckConstraint(
            condition=Q(merchant_rate__gte=0, merchant_rate__lt=1), name=f"{prefix}_merchant_rate"
        ),
        models.CheckConstraint(
            condition=Q(min_amount__gt=0, max_amount__gte=F("min_amount")),
            name=f"{prefix}_amount_limits",
        ),
    ]


class FeeTable(models.Model):
    """One version of the platform's fee table, in force from ``effective_from`` until the next."""

    effective_from = models.DateTimeField(unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return f"Fee table from {self.effective_from:%Y-%m-%d %H:%M %Z}"


class FeeRate(models.Model):
    """A term's row in a fee table. Amount limits are on the financed principal, in minor units."""

    fee_table = models.ForeignKey(FeeTable, on_delete=models.CASCADE, related_name="rates")
    term = models.PositiveSmallIntegerField(validators=_term_validators)
    consumer_rate = _rate_field("consumer rate")
    merchant_rate = _rate_field("merchant rate")
    min_amount = models.BigIntegerField(
        "minimum financed amount", validators=[MinValueValidator(1)]
    )
    max_amount = models.BigIntegerField(
        "maximum financed amount", validators=[MinValueValidator(1)]
    )

    class Meta:
        ordering = ["fee_table", "term"]
        constraints = [
            models.UniqueConstraint(fields=["fee_table", "term"], name="feerate_term_unique"),
            *_term_rate_constraints("feerate"),
        ]

    def __str__(self) -> str:
        return f"{self.term} terms: {self.consumer_rate} / {self.merchant_rate}"


class MerchantFeeOverride(models.Model):
    """Negotiated rates for one merchant and term, in force over ``[effective_from, effective_until)``.

    While in force it replaces the platform table's row for that term (and can add a term the table
    does not have)."""

    merchant = models.ForeignKey(
        "merchants.Merchant", on_delete=models.PROTECT, related_name="fee_overrides"
    )
    term = models.PositiveSmallIntegerField(validators=_term_validators)
    consumer_rate = _rate_field("consumer rate")
    merchant_rate = _rate_field("merchant rate")
    min_amount = models.BigIntegerField(
        "minimum financed amount", validators=[MinValueValidator(1)]
    )
    max_amount = models.BigIntegerField(
        "maximum financed amount", validators=[MinValueValidator(1)]
    )
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["merchant", "term", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "term", "effective_from"], name="feeoverride_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True)
                | Q(effective_until__gt=F("effective_from")),
                name="feeoverride_window_order",
            ),
            *_term_rate_constraints("feeoverride"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant}: {self.term} terms from {self.effective_from:%Y-%m-%d}"


class PlatformSettings(models.Model):
    """One version of the platform's pricing settings, in force from ``effective_from``."""

    effective_from = models.DateTimeField(unique=True)
    statement_day = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(28)]
    )
    due_day = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(28)]
    )
    rounding = models.CharField(
        max_length=16,
        choices=[(r.value, r.value.replace("_", "-")) for r in Rounding],
        default=Rounding.HALF_UP.value,
    )
    auto_approval_threshold = models.BigIntegerField(
        "campaign auto-approval threshold (minor units)",
        default=1_000_000,
        validators=[MinValueValidator(0)],
        help_text="A submitted campaign whose total budget is at or below this is approved at once.",
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-effective_from"]
        verbose_name = "platform settings version"
        verbose_name_plural = "platform settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(statement_day__gte=1, statement_day__lte=28), name="settings_sd_range"
            ),
            models.CheckConstraint(
                condition=Q(due_day__gte=1, due_day__lte=28), name="settings_dd_range"
            ),
            models.CheckConstraint(
                condition=Q(rounding__in=[r.value for r in Rounding]), name="settings_rounding"
            ),
            models.CheckConstraint(
                condition=Q(auto_approval_threshold__gte=0), name="settings_threshold_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"Settings from {self.effective_from:%Y-%m-%d %H:%M %Z}"


from installments.ledger_models import (  # noqa: E402  (the ledger lives in its own module)
    AccountKind,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    LedgerPosting,
)
from installments.plan_models import (  # noqa: E402
    IdempotencyRecord,
    Plan,
    PlanInstallment,
    PlanLine,
    PlanStatus,
    Refund,
)
from installments.settlement_models import (  # noqa: E402
    SettlementBatch,
    SettlementRun,
    Statement,
    StatementLine,
)

__all__ = [
    "AccountKind",
    "EntryKind",
    "FeeRate",
    "FeeTable",
    "IdempotencyRecord",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerPosting",
    "MerchantFeeOverride",
    "Plan",
    "PlanInstallment",
    "PlanLine",
    "PlanStatus",
    "PlatformSettings",
    "Refund",
    "SettlementBatch",
    "SettlementRun",
    "Statement",
    "StatementLine",
]
