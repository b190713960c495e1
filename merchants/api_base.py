"""What every endpoint of the REST API shares (DESIGN.md §6): API-key authentication, problem+json
errors with stable codes, strict JSON integers for amounts, per-key throttling, pagination."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

import orjson
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.connection import ConnectionProxy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.utils import json

from config.outages import RETRY_AFTER_SECONDS, UNAVAILABLE_DETAIL, outage_of
from merchants.api_auth import ApiPrincipal
from merchants.errors import STATUS_BY_CODE, DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
MAX_AMOUNT_MINOR = 10**15  # far above any order; keeps every sum inside a BIGINT


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "merchants.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A merchant API key."}


class CacheBreaker:
    """Stops asking a cache that just failed, for ``open_seconds``: while Redis is down or hung,
    each request would otherwise wait for its connect timeout before going on. The first failure
    of an outage is logged as a warning, the end of it at INFO, not every request in between."""

    def __init__(self, *, open_seconds: float = 5.0) -> None:
        self.open_seconds = open_seconds
        self.open_until = 0.0
        self.failures = 0
        self._lock = threading.Lock()

    def closed(self) -> bool:
        return time.monotonic() >= self.open_until

    def failed(self) -> None:
        with self._lock:
            self.open_until = time.monotonic() + self.open_seconds
            self.failures += 1
            first = self.failures == 1
        if first:
            logger.warning(
                "rate-limit cache unavailable; requests are let through unthrottled until it "
                "answers again",
                exc_info=True,
            )

    def succeeded(self) -> None:
        if self.failures:
            with self._lock:
                failures, self.failures = self.failures, 0
            if failures:
                logger.info("rate-limit cache answers again (%d failed attempts)", failures)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (each key of a merchant has its own allowance).

    A fixed-window counter (one atomic ``incr`` per request in the shared cache) rather than DRF's
    sliding log, which pickles up to the whole allowance of timestamps on every request. A window
    edge may let through up to twice the rate for a moment; the cost stays flat at any rate.

    If the cache (Redis in production) is down, checkouts go on unthrottled rather than fail: a
    lost count costs less than a lost payment. ``breaker`` keeps an outage from costing every
    request a connect timeout; the counts resume by themselves once Redis answers."""

    scope = "api_key"
    breaker = CacheBreaker()

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        return self.allow(self.get_cache_key(request, view))

    def allow_api_key(self, api_key_id: Any) -> bool:
        """``allow_request`` for a request already authenticated with this key (the quote's lane,
        installments/apis.py, which does not build DRF's request)."""
        if self.rate is None:
            return True
        return self.allow(self.cache_format % {"scope": self.scope, "ident": api_key_id})

    def allow(self, ident: str) -> bool:
        """Count one request against ``ident``'s allowance in this window; False once over it."""
        if not self.breaker.closed():
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"{ident}:{window}"
        self.retry_after = (window + 1) * self.duration - now
        try:
            count = self._count(key)
        except Exception:
            self.breaker.failed()
            return True
        self.breaker.succeeded()
        return count <= self.num_requests

    def _count(self, key: str) -> int:
        """This window's count, this request included. On Redis one round trip (INCR and EXPIRE
        pipelined): Django's ``add`` then ``incr`` cost three (SET NX, then EXISTS and INCR).
        Elsewhere one ``incr``, and an ``add`` at the start of each window."""
        ttl = int(self.duration) + 1
        cache = self.cache
        if isinstance(cache, ConnectionProxy):
            # DRF's default is Django's ``cache``, a proxy no isinstance check sees through: the
            # backend it stands for, once (each attribute through the proxy is a lookup too).
            cache = caches[DEFAULT_CACHE_ALIAS]
        if isinstance(cache, RedisCache):
            full_key = cache.make_and_validate_key(key)
            client = cache._cache.get_client(full_key, write=True)
            with client.pipeline(transaction=True) as pipe:
                count, _ = pipe.incr(full_key).expire(full_key, ttl).execute()
            return count
        # Elsewhere (memory, memcached): the window's key exists for all but its first request,
        # so increment first and create it only when that fails.
        try:
            return cache.incr(key)
        except ValueError:  # no key yet (or it just expired)
            pass
        if cache.add(key, 1, timeout=ttl):
            return 1
        try:
            return cache.incr(key)  # another request created it meanwhile
        except ValueError:  # and it expired at once
            cache.set(key, 1, timeout=ttl)
            return 1

    def wait(self) -> float | None:
        return max(getattr(self, "retry_after", 1.0), 1.0)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.user, ApiPrincipal):
            return self.cache_format % {"scope": self.scope, "ident": request.user.api_key.pk}
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def principal(request: Request) -> ApiPrincipal:
    user = request.user
    if not isinstance(user, ApiPrincipal):
        raise exceptions.NotAuthenticated()
    return user


def ensure_not_frozen(request: Request) -> None:
    """Frozen merchants start nothing new (§6); voids, refunds and reads keep working."""
    if principal(request).merchant.is_frozen:
        raise DomainError("merchant_frozen", "This merchant is frozen.")


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: a string, a number with a fraction or an exponent, or a
    boolean is rejected, never coerced (§6). Bounded so every sum stays inside a BIGINT."""

    default_error_messages = {
        "invalid": "Must be a JSON integer (minor units): no strings, fractions, exponents or booleans.",
    }

    def __init__(
        self, *, min_value: int | None = 0, max_value: int | None = MAX_AMOUNT_MINOR, **kwargs: Any
    ) -> None:
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false`` only (DRF's own accepts "yes", 1, "on" …)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's own turns numbers into strings)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CreatedCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                datetime.fromisoformat(cursor.position)
            except (TypeError, ValueError) as exc:
                raise exceptions.NotFound(self.invalid_cursor_message) from exc
        return cursor


class StrictJSONParser(JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity), decoding the body in one call rather than
    through a stream reader (a measurable share of a quote), and answering a body nested too
    deeply for the decoder with 400 too."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            return json.loads(stream.read().decode(encoding), parse_constant=json.strict_constant)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from exc
        except ValueError as exc:  # UnicodeDecodeError included
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc


_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


def json_response_bytes(data: Any) -> bytes:
    """The bytes DRF's ``JSONRenderer`` renders ``data`` to with the API's settings (compact,
    UTF-8, no NaN, U+2028 and U+2029 escaped), through orjson: a quote's body is 3 KB, and
    encoding it was a tenth of the quote. ``data`` must hold JSON types only (str, int, bool,
    None, lists and dicts with str keys): orjson writes datetimes, UUIDs and dataclasses itself,
    not as DRF's encoder does. What orjson refuses (an integer beyond 64 bits, say) goes through
    the renderer."""
    if data is None:
        return b""  # as the renderer answers None
    try:
        rendered = orjson.dumps(data)
    except orjson.JSONEncodeError:
        return JSONRenderer().render(data)
    if b"\xe2\x80" in rendered:  # U+2028 / U+2029 in UTF-8 start with these two bytes
        rendered = rendered.replace(_LINE_SEPARATOR, b"\\u2028")
        rendered = rendered.replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
    return rendered


class StrictObjectSerializerMixin:
    """Refuse unknown keys (a typo must never silently widen a campaign) and non-object bodies."""

    read_only_keys: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"request": ["Send a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))  # type: ignore[attr-defined]
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        writable = {k: v for k, v in data.items() if k not in self.read_only_keys}
        return super().to_internal_value(writable)  # type: ignore[misc]


class ProblemSerializer(serializers.Serializer):
    """An ``application/problem+json`` body (RFC 9457)."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=sorted(STATUS_BY_CODE))
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field → messages; validation errors only.",
    )


def problem_responses(*codes: str) -> dict[Any, OpenApiResponse]:
    """OpenAPI responses for the given error codes, as ``application/problem+json`` (401 and 429
    apply to every endpoint)."""
    by_status: dict[int, list[str]] = {}
    for code in ("authentication_failed", "throttled", *codes):
        by_status.setdefault(STATUS_BY_CODE[code], []).append(code)
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            response=ProblemSerializer, description="Problem: " + ", ".join(f"`{c}`" for c in cs)
        )
        for status, cs in sorted(by_status.items())
    }


_TITLES = {
    "validation_error": "Invalid request",
    "authentication_failed": "Authentication failed",
    "merchant_frozen": "Merchant frozen",
    "permission_denied": "Permission denied",
    "not_found": "Not found",
    "throttled": "Too many requests",
    "method_not_allowed": "Method not allowed",
    "unsupported_media_type": "Unsupported media type",
    "not_acceptable": "Not acceptable",
}


def problem_response(
    *,
    status: int,
    code: str,
    detail: str,
    errors: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"/api/problems/{code}",
        "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details → ``{"budget.total": ["…"], "offers[0].term": ["…"]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                path = f"{prefix}[{key}]"
            else:
                name = "" if key == "non_field_errors" else str(key)
                path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for k, v in _flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            out.setdefault(prefix or "request", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}[{index}]").items():
                    out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or "request", []).append(str(detail))
    return out


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error leaves the API as problem+json with a stable ``code``."""
    # Imported here: rest_framework.views reads the API settings, which name this module's parser,
    # so importing it at the top would be circular when this module is imported first.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DomainError):
        return problem_response(
            status=exc.status,
            code=exc.code,
            detail=exc.message,
            errors=exc.errors,
            extra=exc.extra,
        )
    service = outage_of(exc)
    if service is not None:
        # PostgreSQL, Redis or the broker is unreachable or went away. The request's transaction
        # is gone with it (nothing half-done); an idempotent retry replays or redoes it.
        logger.error("%s unavailable: %s: %s", service, type(exc).__name__, exc)
        return problem_response(
            status=503,
            code="service_unavailable",
            detail=UNAVAILABLE_DETAIL,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            status=400,
            code="validation_error",
            detail="The request is not valid; see errors.",
            errors=_flatten(exc.detail),
        )
    if isinstance(exc, exceptions.ParseError):
        return problem_response(
            status=400,
            code="validation_error",
            detail="The body is not valid JSON.",
            errors={"request": [str(exc.detail)]},
        )
    code = {
        exceptions.NotAuthenticated: "authentication_failed",
        exceptions.AuthenticationFailed: "authentication_failed",
        exceptions.PermissionDenied: "permission_denied",
        exceptions.NotFound: "not_found",
        exceptions.Throttled: "throttled",
        exceptions.MethodNotAllowed: "method_not_allowed",
        exceptions.UnsupportedMediaType: "unsupported_media_type",
        exceptions.NotAcceptable: "not_acceptable",
    }.get(type(exc), "request_error")
    headers = {
        k: v
        for k, v in response.headers.items()
        if k in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    return problem_response(
        status=response.status_code,
        code=code,
        detail=str(getattr(exc, "detail", exc)),
        headers=headers,
    )
