"""Merchants, their stores, the people who work for them and the API keys their checkouts use.

Every merchant-owned table carries ``merchant_id`` and leads its unique constraints with it, so the
schema can be distributed by merchant (DESIGN.md §11).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from merchants.currencies import CURRENCY_CHOICES


class Merchant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FROZEN = "frozen", "Frozen"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    legal_name = models.CharField(max_length=200, blank=True)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="CNY")
    timezone = models.CharField(max_length=64, default="Asia/Shanghai")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    frozen_reason = models.TextField(blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    # Terms on which the merchant refuses paid installments (no campaign); empty means all are on.
    paid_terms_disabled = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "frozen"]), name="merchant_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="merchant_currency_iso4217"
            ),
            models.CheckConstraint(
                condition=Q(status="frozen", frozen_at__isnull=False) | Q(status="active"),
                name="merchant_frozen_has_time",
            ),
        ]
        indexes = [
            models.Index(Lower("name"), name="merchant_name_lower_idx"),
            # The operators' console lists merchants in their ordering (name, id).
            models.Index(fields=["name", "id"], name="merchant_name_id_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_frozen(self) -> bool:
        return self.status == self.Status.FROZEN

    def paid_installments_enabled(self, term: int) -> bool:
        return term not in self.paid_terms_disabled


class MerchantStatusEvent(models.Model):
    """The record of a freeze or an unfreeze: who did it, when and why (DESIGN.md §6, §8).

    Append-only: the merchant row keeps only its current state, this keeps the history."""

    class Action(models.TextChoices):
        FROZEN = "frozen", "Frozen"
        UNFROZEN = "unfrozen", "Unfrozen"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="status_events")
    action = models.CharField(max_length=16, choices=Action.choices)
    reason = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["frozen", "unfrozen"]), name="merchant_event_action_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="merchant_event_has_reason"),
        ]
        indexes = [
            models.Index(fields=["merchant", "-created_at"], name="merchant_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_label or 'the platform'}"


class Store(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="stores")
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=120)
    city = models.CharField(max_length=80, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "code"], name="store_code_unique_per_merchant"
            ),
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"), name="store_code_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MANAGER = "manager", "Manager"
        FINANCE = "finance", "Finance"
        VIEWER = "viewer", "Viewer"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant", "user"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "manager", "finance", "viewer"]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"


class ApiKey(models.Model):
    """A checkout's credential. Only a SHA-256 digest of the secret is stored; the whole key is shown
    once, at creation. ``prefix`` (e.g. ``ipk_live_3fK9xQ2a``) is visible and finds the row."""

    class Mode(models.TextChoices):
        TEST = "test", "Test"
        LIVE = "live", "Live"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=80, blank=True)
    mode = models.CharField(max_length=4, choices=Mode.choices)
    prefix = models.CharField(max_length=24, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(mode__in=["test", "live"]), name="apikey_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(secret_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106
                name="apikey_hash_is_sha256",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "mode"], name="apikey_merchant_mode_idx")]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
