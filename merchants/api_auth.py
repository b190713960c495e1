"""API-key authentication for the REST API (kept apart from the views: DRF imports it at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from merchants.models import ApiKey, Merchant
from merchants.selectors import api_key_authenticate


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """``request.user`` for API calls: the merchant acting through one of its keys."""

    api_key: ApiKey

    @property
    def merchant(self) -> Merchant:
        return self.api_key.merchant

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_test_mode(self) -> bool:
        return self.api_key.mode == ApiKey.Mode.TEST


def bearer_key(header: bytes) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header (as bytes, the way DRF reads it), or
    None when there is no header; ``AuthenticationFailed`` when the header is malformed."""
    parts = header.split()
    if not parts:
        return None
    if parts[0].lower() != b"bearer" or len(parts) != 2:
        raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <API key>'.")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise exceptions.AuthenticationFailed("The API key is not valid.") from exc


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer <merchant API key>``."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        raw_key = bearer_key(get_authorization_header(request))
        if raw_key is None:
            return None
        # A view that only quotes says so (``api_key_may_be_recent``): then a lookup of the key this
        # process made in the last second will do (merchants/recent_keys.py says why that is safe
        # for a quote and for nothing else).
        view = (request.parser_context or {}).get("view")
        recent = getattr(view, "api_key_may_be_recent", False)
        api_key = api_key_authenticate(raw_key=raw_key, recent=recent)
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or has been revoked.")
        return ApiPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
