"""Nightly settlement (DESIGN.md §7): statements, their lines per campaign, and the runs that make
them, tracked in the database (not in a result backend) so operators see progress and failures.

A statement never changes once made; every charge or reversal ends up in exactly one statement
(``LedgerEntry.statement``, which the database lets go from empty to set once and never again)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q


class Statement(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    currency = models.CharField(max_length=3)
    plans_charged = models.PositiveIntegerField(default=0)
    charges = models.BigIntegerField(default=0)
    reversals = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)
    settlement_entry = models.OneToOneField(
        "installments.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settled_statement",
    )
    run = models.ForeignKey(
        "installments.SettlementRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="statements",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-business_date", "merchant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "business_date", "currency"], name="statement_unique"
            ),
            models.CheckConstraint(
                condition=Q(net=F("charges") - F("reversals"))
                & Q(charges__gte=0)
                & Q(reversals__gte=0),
                name="statement_net",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "-business_date"], name="statement_merchant_idx"),
            # The operators' console lists all merchants' statements newest first.
            models.Index(fields=["-business_date", "merchant"], name="statement_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.business_date} {self.currency} {self.net:+d}"


class StatementLine(models.Model):
    """One campaign's events in a statement, apart from the adjustments (late events)."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.PROTECT, related_name="+")
    campaign_name = models.CharField(max_length=60)
    adjustment = models.BooleanField()
    plans_charged = models.PositiveIntegerField()
    charges = models.BigIntegerField()
    reversals = models.BigIntegerField()
    net = models.BigIntegerField()

    class Meta:
        ordering = ["adjustment", "campaign_name", "campaign_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "statement", "campaign", "adjustment"],
                name="statement_line_unique",
            ),
            models.CheckConstraint(
                condition=Q(net=F("charges") - F("reversals"))
                & Q(charges__gte=0)
                & Q(reversals__gte=0),
                name="statement_line_net",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_name}: {self.net:+d}"


class SettlementRun(models.Model):
    """One settlement of a business date (all merchants, or one), fanned out in batches."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Completed with failures"

    business_date = models.DateField()
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    merchants_total = models.PositiveIntegerField(default=0)
    merchants_done = models.PositiveIntegerField(default=0)
    merchants_failed = models.PositiveIntegerField(default=0)
    statements_created = models.PositiveIntegerField(default=0)
    charges = models.BigIntegerField(default=0)
    reversals = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)
    requested_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"settlement of {self.business_date} ({self.status})"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None


class SettlementBatch(models.Model):
    """A slice of a run's merchants (in id order), settled by one task in one transaction."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(SettlementRun, on_delete=models.CASCADE, related_name="batches")
    position = models.PositiveIntegerField()
    merchant_ids = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    statements_created = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="settlement_batch_unique"),
        ]

    def __str__(self) -> str:
        return f"batch {self.position} of run {self.run_id} ({self.status})"
