"""Reads for merchants, stores, members and API keys."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from merchants.models import ApiKey, Membership, Merchant, Store
from merchants.services import API_KEY_SCHEME, api_key_hash

# last_used_at is bookkeeping, not an audit log: write it at most once a minute per key.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key that ``raw_key`` is, with its merchant loaded, or None."""
    parts = raw_key.split("_")
    if len(parts) < 4 or parts[0] != API_KEY_SCHEME or parts[1] not in ApiKey.Mode.values:
        return None
    prefix = "_".join(parts[:3])
    api_key = (
        ApiKey.objects.select_related("merchant")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, api_key_hash(raw_key)):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def merchant_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Merchant]:
    return Merchant.objects.filter(memberships__user=user).order_by("name", "id")


def membership_get(*, user: AbstractBaseUser, merchant_id: object) -> Membership | None:
    return (
        Membership.objects.select_related("merchant")
        .filter(user=user, merchant_id=merchant_id)
        .first()
    )


def store_list(*, merchant: Merchant) -> QuerySet[Store]:
    return Store.objects.filter(merchant=merchant).order_by("code")
