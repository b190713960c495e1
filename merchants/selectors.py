"""Reads for merchants, stores, members and API keys."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from config.prepared import fetch_prepared
from merchants.models import ApiKey, Membership, Merchant, Store
from merchants.recent_keys import recent_key, recent_key_remember
from merchants.services import API_KEY_SCHEME, api_key_hash

# last_used_at is bookkeeping, not an audit log: write it at most once a minute per key.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


_KEY_MODES = frozenset(ApiKey.Mode.values)  # Choices.values builds a new list on every access
_KEY_FIELDS = [field.attname for field in ApiKey._meta.concrete_fields]
_MERCHANT_FIELDS = [field.attname for field in Merchant._meta.concrete_fields]
# Every API request runs this: one prepared statement, no ORM query building (it cost more than the
# lookup itself). The column names come from the models, never from input.
_API_KEY_SQL = (
    "SELECT "  # noqa: S608
    + ", ".join(f"k.{name}" for name in _KEY_FIELDS)
    + ", "
    + ", ".join(f"m.{name}" for name in _MERCHANT_FIELDS)
    + " FROM merchants_apikey k JOIN merchants_merchant m ON m.id = k.merchant_id"
    + " WHERE k.prefix = %(prefix)s AND k.revoked_at IS NULL"
)


def api_key_authenticate(*, raw_key: str, recent: bool = False) -> ApiKey | None:
    """The active key that ``raw_key`` is, with its merchant loaded, or None.

    ``recent``: a lookup this process made in the last ``API_KEY_RECENT_SECONDS`` will do (quotes
    only, see ``merchants.recent_keys``); otherwise the database answers."""
    if not raw_key.isprintable():  # a NUL, say, which PostgreSQL refuses in text: not a key
        return None
    parts = raw_key.split("_")
    if len(parts) < 4 or parts[0] != API_KEY_SCHEME or parts[1] not in _KEY_MODES:
        return None
    prefix = "_".join(parts[:3])
    if recent:
        # The key and merchant built from a lookup this process made a moment ago (the secret is
        # still checked against its hash on every request).
        api_key = recent_key(prefix)
        if api_key is not None:
            return (
                api_key if hmac.compare_digest(api_key.secret_hash, api_key_hash(raw_key)) else None
            )
    rows = fetch_prepared(_API_KEY_SQL, {"prefix": prefix})
    if not rows:
        return None
    row = rows[0]
    api_key = ApiKey.from_db("default", _KEY_FIELDS, row[: len(_KEY_FIELDS)])
    if not hmac.compare_digest(api_key.secret_hash, api_key_hash(raw_key)):
        return None
    api_key.merchant = Merchant.from_db("default", _MERCHANT_FIELDS, row[len(_KEY_FIELDS) :])
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    recent_key_remember(prefix, api_key)
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
