"""Writes for merchants, stores, members and API keys. Every write goes through here."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import string
import zoneinfo
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from merchants.currencies import CURRENCIES
from merchants.errors import DomainError
from merchants.models import ApiKey, Membership, Merchant, MerchantStatusEvent, Store
from merchants.recent_keys import recent_keys_forget

logger = logging.getLogger(__name__)

# A merchant may hold this many active keys per mode: two, so a key can be rotated without downtime.
MAX_ACTIVE_KEYS_PER_MODE = 2
API_KEY_SCHEME = "ipk"
_PREFIX_ID_ALPHABET = string.ascii_letters + string.digits
_PREFIX_ID_LENGTH = 10


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _validate_merchant_fields(
    *, name: str, legal_name: str, currency: str, timezone_name: str
) -> None:
    errors = _text_errors(name=(name, 120), legal_name=(legal_name, 200))
    if not name.strip():
        errors["name"] = ["A merchant needs a name."]
    if currency not in CURRENCIES:
        errors["currency"] = [f"Unknown or unsupported ISO 4217 currency {currency!r}."]
    if timezone_name not in _time_zones():
        errors["timezone"] = [f"Unknown time zone {timezone_name!r} (use an IANA name)."]
    if errors:
        raise DomainError("validation_error", "The merchant is not valid.", errors=errors)


@transaction.atomic
def merchant_create(
    *,
    name: str,
    legal_name: str = "",
    currency: str = "CNY",
    timezone_name: str = "Asia/Shanghai",
    owner_email: str | None = None,
) -> Merchant:
    """Onboard a merchant; with ``owner_email``, its owner too (an existing user or a new one)."""
    _validate_merchant_fields(
        name=name, legal_name=legal_name, currency=currency, timezone_name=timezone_name
    )
    merchant = Merchant.objects.create(
        name=name.strip(), legal_name=legal_name, currency=currency, timezone=timezone_name
    )
    if owner_email:
        user = user_get_or_create_by_email(email=owner_email)
        membership_set(merchant=merchant, user=user, role=Membership.Role.OWNER)
    return merchant


def user_get_or_create_by_email(*, email: str) -> AbstractBaseUser:
    """The user with this e-mail (case-insensitive), or a new one without a usable password."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise DomainError.validation("email", f"{email!r} is not an e-mail address.") from exc
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).order_by("pk").first()
    if user is None:
        user = user_model.objects.create_user(username=email.lower(), email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def merchant_freeze(
    *, merchant: Merchant, reason: str, actor: AbstractBaseUser | None = None
) -> Merchant:
    """Freeze a merchant: its campaigns stop being offered and it can start nothing new (§6, §8).

    Nothing is deleted; voids, refunds and reads keep working. The reason and who gave it are
    recorded (``MerchantStatusEvent``); freezing a frozen merchant is refused."""
    return _merchant_status_set(
        merchant=merchant,
        frozen=True,
        reason=reason,
        actor=actor,
        empty="Say why the merchant is frozen.",
    )


@transaction.atomic
def merchant_unfreeze(
    *, merchant: Merchant, reason: str, actor: AbstractBaseUser | None = None
) -> Merchant:
    """Unfreeze a merchant, recording why and who; unfreezing an active merchant is refused."""
    return _merchant_status_set(
        merchant=merchant,
        frozen=False,
        reason=reason,
        actor=actor,
        empty="Say why the merchant is unfrozen.",
    )


def _merchant_status_set(
    *, merchant: Merchant, frozen: bool, reason: str, actor: AbstractBaseUser | None, empty: str
) -> Merchant:
    reason = reason.strip()
    if not reason:
        raise DomainError.validation("reason", empty)
    errors = _text_errors(reason=(reason, 2000))
    if errors:
        raise DomainError("validation_error", "The reason is not valid.", errors=errors)
    # The row lock makes two operators' concurrent clicks one change and one refusal.
    locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if locked.is_frozen == frozen:
        raise DomainError(
            "invalid_transition",
            f"{locked.name} is already {'frozen' if frozen else 'active'}.",
        )
    now = timezone.now()
    Merchant.objects.filter(pk=merchant.pk).update(
        status=Merchant.Status.FROZEN if frozen else Merchant.Status.ACTIVE,
        frozen_reason=reason if frozen else "",
        frozen_at=now if frozen else None,
        updated_at=now,
    )
    MerchantStatusEvent.objects.create(
        merchant=locked,
        action=MerchantStatusEvent.Action.FROZEN if frozen else MerchantStatusEvent.Action.UNFROZEN,
        reason=reason,
        actor=actor,
        actor_label=f"operator {actor.get_username()}" if actor is not None else "",
    )
    recent_keys_forget()
    merchant.refresh_from_db()
    return merchant


def merchant_set_paid_terms_disabled(*, merchant: Merchant, terms: list[int]) -> Merchant:
    """Switch paid installments (no campaign) off for these terms; every other term is on."""
    if any(isinstance(t, bool) or not isinstance(t, int) or not 2 <= t <= 36 for t in terms):
        raise DomainError.validation("paid_terms_disabled", "Terms are whole numbers from 2 to 36.")
    merchant.paid_terms_disabled = sorted(set(terms))
    merchant.save(update_fields=["paid_terms_disabled", "updated_at"])
    recent_keys_forget()
    return merchant


_STORE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def _text_errors(**fields: tuple[str, int]) -> dict[str, list[str]]:
    """Length and NUL checks for free text, so the database never has to refuse it."""
    errors: dict[str, list[str]] = {}
    for name, (value, limit) in fields.items():
        if len(value) > limit:
            errors[name] = [f"At most {limit} characters."]
        elif "\x00" in value:
            errors[name] = ["May not contain NUL characters."]
    return errors


def _validate_store(*, code: str, name: str) -> None:
    errors = _text_errors(name=(name, 120))
    if not _STORE_CODE.fullmatch(code or ""):
        errors["code"] = [
            "1–32 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit."
        ]
    if not name.strip():
        errors.setdefault("name", ["A store needs a name."])
    if errors:
        raise DomainError("validation_error", "The store is not valid.", errors=errors)


def store_create(
    *, merchant: Merchant, code: str, name: str, city: str = "", active: bool = True
) -> Store:
    """Open a store; its code is the merchant's own and unique within the merchant."""
    _validate_store(code=code, name=name)
    try:
        with transaction.atomic():
            return Store.objects.create(
                merchant=merchant, code=code, name=name.strip(), city=city.strip(), active=active
            )
    except IntegrityError as exc:
        raise DomainError.validation("code", f"A store with code {code!r} already exists.") from exc


def store_update(
    *,
    store: Store,
    code: str | None = None,
    name: str | None = None,
    city: str | None = None,
    active: bool | None = None,
) -> Store:
    """Change a store's fields; ``active=False`` deactivates it (stores are never deleted)."""
    new_code = store.code if code is None else code
    new_name = store.name if name is None else name
    _validate_store(code=new_code, name=new_name)
    store.code = new_code
    store.name = new_name.strip()
    if city is not None:
        store.city = city.strip()
    if active is not None:
        store.active = active
    try:
        with transaction.atomic():
            store.save()
    except IntegrityError as exc:
        raise DomainError.validation(
            "code", f"A store with code {new_code!r} already exists."
        ) from exc
    return store


def membership_set(*, merchant: Merchant, user: AbstractBaseUser, role: str) -> Membership:
    """Give ``user`` the ``role`` at ``merchant`` (adding or changing the membership)."""
    if role not in Membership.Role.values:
        raise DomainError.validation("role", f"Unknown role {role!r}.")
    membership, _ = Membership.objects.update_or_create(
        merchant=merchant, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def membership_remove(*, merchant: Merchant, user: AbstractBaseUser) -> None:
    """Remove a member; a merchant always keeps at least one owner."""
    # Lock the merchant so two concurrent removals cannot both see "another owner remains".
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    membership = Membership.objects.filter(merchant=merchant, user=user).first()
    if membership is None:
        raise DomainError("not_found", "No such member.")
    if membership.role == Membership.Role.OWNER:
        owners = Membership.objects.filter(merchant=merchant, role=Membership.Role.OWNER).count()
        if owners <= 1:
            raise DomainError("invalid_transition", "A merchant must keep at least one owner.")
    membership.delete()


def api_key_hash(raw_key: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is safe and lets every request check
    # its key without a slow KDF; the comparison is constant-time (see selectors).
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *,
    merchant: Merchant,
    mode: str,
    name: str = "",
    created_by: AbstractBaseUser | None = None,
) -> IssuedApiKey:
    """Issue a key. At most two active keys per mode, so a live key can be rotated without downtime:
    create the new one, deploy it, then revoke the old one."""
    if mode not in ApiKey.Mode.values:
        raise DomainError.validation("mode", "Mode is 'test' or 'live'.")
    errors = _text_errors(name=(name, 80))
    if errors:
        raise DomainError("validation_error", "The key's name is not valid.", errors=errors)
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    active = ApiKey.objects.filter(merchant=merchant, mode=mode, revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE_KEYS_PER_MODE:
        raise DomainError(
            "invalid_transition",
            f"A merchant may hold {MAX_ACTIVE_KEYS_PER_MODE} active {mode} keys; revoke one first.",
        )
    prefix_id = "".join(secrets.choice(_PREFIX_ID_ALPHABET) for _ in range(_PREFIX_ID_LENGTH))
    prefix = f"{API_KEY_SCHEME}_{mode}_{prefix_id}"
    raw_key = f"{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        merchant=merchant,
        name=name,
        mode=mode,
        prefix=prefix,
        secret_hash=api_key_hash(raw_key),
        created_by=created_by,
    )
    return IssuedApiKey(api_key=api_key, raw_key=raw_key)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once; requests with it then get 401. Revoking twice changes nothing."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    recent_keys_forget()
    api_key.refresh_from_db()
    return api_key


# --------------------------------------------------------------------------------------------------
# Members and keys, as the back office manages them (DESIGN.md §8, §10).


@dataclass(frozen=True, slots=True)
class Invitation:
    membership: Membership
    # The invited person has no password yet (a new user, or one who never set it): the
    # invitation e-mail carries a link to set one instead of a sign-in link.
    needs_password: bool
    emailed: bool


def membership_invite(
    *,
    merchant: Merchant,
    email: str,
    role: str,
    invited_by: AbstractBaseUser | None = None,
    site_url: str = "",
) -> Invitation:
    """Add the person with this e-mail to the merchant with ``role``, creating their user (without
    a usable password) when no user has that e-mail, and e-mail them: a link to set their password,
    or, for someone who already has one, where to sign in. ``site_url`` (scheme and host) makes the
    links absolute. Someone already a member is refused (change their role instead).

    The membership is committed before the e-mail is sent; a failed e-mail is logged and reported
    in ``emailed`` rather than undoing the invitation (the owner can send a reset link later)."""
    if role not in Membership.Role.values:
        raise DomainError.validation("role", f"Unknown role {role!r}.")
    with transaction.atomic():
        user = user_get_or_create_by_email(email=email)
        if Membership.objects.filter(merchant=merchant, user=user).exists():
            raise DomainError.validation("email", "This person is already a member.")
        membership = membership_set(merchant=merchant, user=user, role=role)
    needs_password = not user.has_usable_password()
    emailed = _invitation_send(
        membership=membership,
        needs_password=needs_password,
        invited_by=invited_by,
        site_url=site_url,
    )
    return Invitation(membership=membership, needs_password=needs_password, emailed=emailed)


def _invitation_send(
    *,
    membership: Membership,
    needs_password: bool,
    invited_by: AbstractBaseUser | None,
    site_url: str,
) -> bool:
    user = membership.user
    if needs_password:
        link = reverse(
            "password_reset_confirm",
            kwargs={
                "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                "token": default_token_generator.make_token(user),
            },
        )
    else:
        link = reverse("login")
    context = {
        "merchant": membership.merchant,
        "role": membership.role,
        "user": user,
        "invited_by": invited_by,
        "needs_password": needs_password,
        "link": f"{site_url}{link}",
    }
    subject = render_to_string("merchants/email/invitation_subject.txt", context).strip()
    body = render_to_string("merchants/email/invitation_body.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception:
        logger.exception("invitation e-mail to user %s failed", user.pk)
        return False
    return True


@transaction.atomic
def membership_role_change(*, merchant: Merchant, membership_id: int, role: str) -> Membership:
    """Give a member another role. The merchant's last owner stays an owner (``invalid_transition``),
    checked under a lock on the merchant as ``membership_remove`` does."""
    if role not in Membership.Role.values:
        raise DomainError.validation("role", f"Unknown role {role!r}.")
    Merchant.objects.select_for_update().get(pk=merchant.pk)
    membership = (
        Membership.objects.select_related("user")
        .filter(merchant=merchant, pk=membership_id)
        .first()
    )
    if membership is None:
        raise DomainError("not_found", "No such member.")
    if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER:
        owners = Membership.objects.filter(merchant=merchant, role=Membership.Role.OWNER).count()
        if owners <= 1:
            raise DomainError("invalid_transition", "A merchant must keep at least one owner.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def api_key_rotate(
    *, api_key: ApiKey, revoke_old: bool = False, created_by: AbstractBaseUser | None = None
) -> IssuedApiKey:
    """Issue the successor of an active key (same merchant, mode and name). By default both stay
    active, so the checkout can move to the new key before the old one is revoked (no downtime,
    §6); with ``revoke_old`` the old key is revoked first, in the same transaction, which also
    lets a merchant that already holds two active keys of the mode rotate one of them."""
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if locked.revoked_at is not None:
        raise DomainError("invalid_transition", "A revoked key cannot be rotated.")
    if revoke_old:
        api_key_revoke(api_key=locked)
    issued = api_key_create(
        merchant=locked.merchant, mode=locked.mode, name=locked.name, created_by=created_by
    )
    api_key.refresh_from_db()
    return issued
