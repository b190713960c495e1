"""Quotes (DESIGN.md §6): the installment options for a basket, valid for 15 minutes.

A quote is a signed token, not a row: it carries the basket, the merchant, the key's mode, its
expiry and, per term, the offer quoted (campaign, C, M), so any web process can check it at commit
without storage (§11). The server re-prices at commit from the inputs in the token; it never trusts
amounts the client sends back."""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core import signing
from django.utils import timezone

from campaigns.alerts import alert_budget_refused
from campaigns.matching import Basket, BasketLine, Matching, TermMatch, offers_match
from merchants.errors import DomainError
from merchants.models import Merchant, Store

QUOTE_TTL = timedelta(minutes=15)
_SALT = "installments.quote.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_COMPRESS_FROM_LINES = 8


@dataclass(frozen=True, slots=True)
class QuotedOffer:
    """What a quote promised on one term: the offer is "the same" at commit when all three are."""

    campaign_id: uuid.UUID | None
    consumer_fee: int
    merchant_subsidy: int

    @classmethod
    def of(cls, match: TermMatch) -> QuotedOffer:
        return cls(
            campaign_id=match.offer.campaign_id if match.offer else None,
            consumer_fee=match.price.consumer_fee,
            merchant_subsidy=match.price.merchant_subsidy,
        )


@dataclass(frozen=True, slots=True)
class Quote:
    quote_id: str
    expires_at: datetime
    currency: str
    matching: Matching


@dataclass(frozen=True, slots=True)
class OpenedQuote:
    """A verified quote's inputs, as the commit re-prices them."""

    currency: str
    basket: Basket
    offers: dict[int, QuotedOffer]
    expires_at: datetime


def _check_inputs(*, merchant: Merchant, currency: str, basket: Basket) -> None:
    if currency != merchant.currency:
        raise DomainError.validation(
            "currency", f"This merchant sells in {merchant.currency}, not {currency}."
        )
    if (
        basket.store is not None
        and not Store.objects.filter(merchant=merchant, code=basket.store, active=True).exists()
    ):
        raise DomainError.validation("store", "No active store of yours has this code.")


def quote_create(
    *,
    merchant: Merchant,
    test: bool,
    currency: str,
    basket: Basket,
    now: datetime | None = None,
    recent: bool = False,
) -> Quote:
    """Price every term offered for the basket now and sign the result for 15 minutes.

    ``recent``: the pricing inputs may be a read from the last moment (``offers_match``); the API
    asks for that, as the commit re-prices from fresh reads anyway."""
    if merchant.is_frozen:
        raise DomainError("merchant_frozen", "This merchant is frozen.")
    _check_inputs(merchant=merchant, currency=currency, basket=basket)
    now = now or timezone.now()
    matching = offers_match(merchant=merchant, basket=basket, at=now, recent=recent)
    if not test:
        # A campaign out of budget is a refusal for lack of budget (§5): notice it once.
        for campaign_id in matching.refusals_to_alert:
            alert_budget_refused(merchant_id=merchant.pk, campaign_id=campaign_id)
    expires_at = now + QUOTE_TTL
    payload = {
        "v": 1,
        "m": str(merchant.pk),
        "t": test,
        "cur": currency,
        "a": basket.amount,
        "g": basket.government_subsidy,
        "s": basket.store,
        "c": basket.channel,
        "r": basket.consumer_ref,
        "l": None
        if basket.lines is None
        else [[line.sku, line.category, line.amount] for line in basket.lines],
        "e": (expires_at - _EPOCH) // _MICROSECOND,
        "o": {
            str(match.term): [
                str(match.offer.campaign_id) if match.offer else None,
                match.price.consumer_fee,
                match.price.merchant_subsidy,
            ]
            for match in matching.terms
        },
    }
    # Compressing costs more than the signature on a small basket; a long one needs it to keep the
    # token short (quote_open reads either form).
    many_lines = basket.lines is not None and len(basket.lines) > _COMPRESS_FROM_LINES
    token = quote_token(payload, compress=many_lines)
    return Quote(quote_id=token, expires_at=expires_at, currency=currency, matching=matching)


def quote_token(payload: dict[str, Any], *, compress: bool = False) -> str:
    """Exactly ``signing.dumps(payload, salt=_SALT, compress=compress)`` (``quote_open`` verifies
    it with ``signing.loads``), made the cheap way: every checkout signs a quote, and Django's
    signer derives its HMAC key and reads the settings on every call.

    - The JSON: orjson's, when it is printable ASCII (then it is byte for byte what the signer's
      compact ``json.dumps`` writes); the signer's own encoding when a string is not.
    - The HMAC: SHA-256 of the key's inner and outer pads, hashed once per secret and copied per
      token (RFC 2104), rather than keyed again each time."""
    try:
        data = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, say
        data = b"\x80"  # not ASCII: encoded below
    if not data.isascii() or b"\x7f" in data:  # json.dumps escapes DEL too; orjson does not
        data = _TOKEN_ENCODER.encode(payload).encode("latin-1")
    prefix = ""
    if compress:
        compressed = zlib.compress(data)
        if len(compressed) < len(data) - 1:
            data, prefix = compressed, "."
    value = f"{prefix}{signing.b64_encode(data).decode()}:{signing.b62_encode(int(time.time()))}"
    inner, outer = _signing_pads(settings.SECRET_KEY)
    inner = inner.copy()
    inner.update(value.encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return f"{value}:{signing.b64_encode(outer.digest()).decode()}"


# signing.JSONSerializer's encoding (compact, ASCII), built once rather than per call.
_TOKEN_ENCODER = json.JSONEncoder(separators=(",", ":"))
_SHA256_BLOCK = 64


@functools.lru_cache(maxsize=4)
def _signing_pads(secret: str) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes, fed the padded key, for the key Django's signer uses
    for ``Signer(salt=_SALT)`` (``salted_hmac``'s: SHA-256 of salt, "signer" and the secret)."""
    key = hashlib.sha256(f"{_SALT}signer{secret}".encode()).digest().ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


def quote_open(
    *, merchant: Merchant, test: bool, quote_id: str, now: datetime | None = None
) -> OpenedQuote:
    """Verify a quote for this merchant and key mode: ``not_found`` when it is not one of theirs
    (or not a quote at all), ``quote_expired`` after 15 minutes on the server's clock."""
    now = now or timezone.now()
    try:
        payload: dict[str, Any] = signing.loads(quote_id, salt=_SALT)
        if payload.get("v") != 1 or payload["m"] != str(merchant.pk) or payload["t"] != test:
            raise DomainError("not_found", "No such quote.")
        lines = payload["l"]
        basket = Basket(
            amount=payload["a"],
            government_subsidy=payload["g"],
            lines=None if lines is None else tuple(BasketLine(*line) for line in lines),
            store=payload["s"],
            channel=payload["c"],
            consumer_ref=payload["r"],
        )
        offers = {
            int(term): QuotedOffer(
                campaign_id=uuid.UUID(campaign) if campaign else None,
                consumer_fee=fee,
                merchant_subsidy=subsidy,
            )
            for term, (campaign, fee, subsidy) in payload["o"].items()
        }
        expires_at = _EPOCH + payload["e"] * _MICROSECOND
        currency = payload["cur"]
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise DomainError("not_found", "No such quote.") from exc
    if now >= expires_at:
        raise DomainError("quote_expired", "The quote has expired; ask for a new one.")
    return OpenedQuote(currency=currency, basket=basket, offers=offers, expires_at=expires_at)


def option_json(match: TermMatch) -> dict[str, Any]:
    """One option as the API shows it (§6); also the body of ``offer_changed``."""
    price = match.price
    return {
        "term": match.term,
        "interest_free": price.interest_free,
        "consumer_fee": price.consumer_fee,
        "merchant_subsidy": price.merchant_subsidy,
        "apr": price.apr,
        "total_payable": price.total_payable,
        "campaign": {"id": str(match.offer.campaign_id), "name": match.offer.campaign_name}
        if match.offer
        else None,
        "schedule": schedule_json(price.schedule),
    }


def schedule_json(installments: Iterable[Any]) -> list[dict[str, Any]]:
    """A schedule as the API shows it: a priced option's or a committed plan's installments."""
    return [
        {
            "period": item.period,
            "due_date": item.due_date.isoformat(),
            "principal": item.principal,
            "fee": item.fee,
            "amount": item.principal + item.fee,
        }
        for item in installments
    ]
