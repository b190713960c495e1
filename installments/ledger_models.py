"""The double-entry ledger (DESIGN.md §7): what merchants owe, as balanced, append-only entries.

PostgreSQL itself keeps it honest (migration ``0003_ledger``): a deferred constraint trigger refuses
any entry whose postings do not sum to zero per currency at commit, and triggers refuse every UPDATE
or DELETE of entries and postings. Corrections are new reversing entries."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class AccountKind(models.TextChoices):
    RECEIVABLE = "receivable", "Merchant receivable"
    SETTLED = "settled", "Merchant settled"
    SUBSIDY_INCOME = "subsidy_income", "Platform subsidy income"


class EntryKind(models.TextChoices):
    CHARGE = "charge", "Plan charge"
    REVERSAL = "reversal", "Reversal"
    SETTLEMENT = "settlement", "Settlement"


class LedgerAccount(models.Model):
    """Accounts are per merchant, the platform's subsidy income too, so one merchant's entries stay
    on one shard (§11)."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "kind", "currency"], name="ledger_account_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=AccountKind.values), name="ledger_account_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.currency})"


class LedgerEntry(models.Model):
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    currency = models.CharField(max_length=3)
    # The Shanghai date on which the event was recorded (§7).
    business_date = models.DateField()
    # The merchant-local day the plan was charged, so budgets reconcile by charge day (§5).
    charge_day = models.DateField(null=True, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    plan_id = models.UUIDField(null=True, blank=True)
    # The statement that settled this event (charges and reversals only). The database lets it go
    # from empty to set once and refuses every other change (migration 0007).
    statement = models.ForeignKey(
        "installments.Statement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EntryKind.values), name="ledger_entry_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="settlement")
                | Q(campaign__isnull=False, charge_day__isnull=False),
                name="ledger_event_has_campaign_and_day",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "business_date"], name="ledger_entry_merchant_day"),
            models.Index(
                fields=["merchant", "campaign", "charge_day"], name="ledger_entry_campaign"
            ),
            # Settlement reads a merchant's unsettled events up to a date.
            models.Index(
                fields=["merchant", "business_date"],
                condition=Q(statement__isnull=True) & ~Q(kind="settlement"),
                name="ledger_entry_unsettled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.business_date} ({self.currency})"


class LedgerPosting(models.Model):
    """One leg of an entry: a signed amount in minor units (debit positive, credit negative)."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="postings")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_nonzero"),
        ]
        indexes = [models.Index(fields=["merchant", "account"], name="ledger_posting_account")]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency}"
