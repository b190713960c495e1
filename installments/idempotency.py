"""Idempotent POSTs (DESIGN.md §6), kept in PostgreSQL.

A request with an ``Idempotency-Key`` runs inside one transaction that first takes a
transaction-scoped advisory lock on (merchant, key mode, method, path, key):
- the lock is taken: another request with that key is running → ``409 idempotency_key_in_use``;
- a stored outcome exists: the same body (the same JSON value) replays it byte for byte with
  ``Idempotent-Replayed: true``; another body is ``422 idempotency_key_reused``;
- otherwise the work runs (in a savepoint) and its outcome is stored in the same transaction: 2xx
  and the business 4xx (404, 409, 410, 422), not 403, 429 or 5xx.
A crash rolls the work and the record back together and releases the lock, so a key is never
stuck; records are purged after the retention period by a periodic task."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from installments.plan_models import IdempotencyRecord
from merchants.api_base import problem_response
from merchants.errors import DomainError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII without spaces at the ends; long enough for a UUID, a hash or an order number.
_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")
_STORED_STATUSES = frozenset({404, 409, 410, 422})
_RENDERER = JSONRenderer()


def _is_stored(status: int) -> bool:
    return 200 <= status < 300 or status in _STORED_STATUSES


def request_hash(value: Any) -> str:
    """The same JSON value (not the same bytes) gives the same hash: key order and spacing don't
    matter, ``1`` and ``1.0`` do."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def idempotency_key_of(headers: Any) -> str:
    """The request's key, or ``idempotency_key_required`` / ``validation_error``."""
    key = headers.get(HEADER)
    if key is None or key == "":
        raise DomainError("idempotency_key_required", f"Send an {HEADER} header with this request.")
    if not _KEY.fullmatch(key):
        raise DomainError.validation(HEADER, "1 to 255 printable ASCII characters.")
    return key


def _lock_ids(*parts: str) -> tuple[int, int]:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return (
        int.from_bytes(digest[:4], "big", signed=True),
        int.from_bytes(digest[4:8], "big", signed=True),
    )


def _render(response: Response) -> HttpResponse:
    content_type = response.content_type or "application/json"
    body = _RENDERER.render(response.data) if response.data is not None else b""
    rendered = HttpResponse(body, status=response.status_code, content_type=content_type)
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            rendered[name] = value
    return rendered


def _from_error(exc: DomainError) -> Response:
    return problem_response(
        status=exc.status,
        code=exc.code,
        detail=exc.message,
        errors=exc.errors,
        extra=exc.extra,
    )


def idempotent(
    *,
    merchant_id: Any,
    mode: str,
    method: str,
    path: str,
    key: str,
    body: Any,
    work: Callable[[], Response],
) -> HttpResponse:
    """Run ``work`` at most once per key (see the module's docstring). ``work`` returns a DRF
    ``Response`` or raises ``DomainError``; the rendered outcome is what is stored and replayed."""
    digest = request_hash(body)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)",
                _lock_ids(str(merchant_id), mode, method, path, key),
            )
            (locked,) = cursor.fetchone()
        if not locked:
            raise DomainError(
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            )
        stored = IdempotencyRecord.objects.filter(
            merchant_id=merchant_id, mode=mode, method=method, path=path, key=key
        ).first()
        if stored is not None:
            if stored.request_hash != digest:
                raise DomainError(
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request body.",
                )
            replay = HttpResponse(
                bytes(stored.body), status=stored.status_code, content_type=stored.content_type
            )
            replay[REPLAYED_HEADER] = "true"
            return replay
        try:
            with transaction.atomic():
                response = work()
        except DomainError as exc:
            response = _from_error(exc)
        rendered = _render(response)
        if _is_stored(rendered.status_code):
            IdempotencyRecord.objects.create(
                merchant_id=merchant_id,
                mode=mode,
                method=method,
                path=path,
                key=key,
                request_hash=digest,
                status_code=rendered.status_code,
                content_type=rendered["Content-Type"],
                body=rendered.content,
            )
        return rendered


def idempotency_purge(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete outcomes older than the retention period (at least 24 hours, §6), in batches."""
    now = now or timezone.now()
    hours = max(int(settings.IDEMPOTENCY_RETENTION_HOURS), 24)
    cutoff = now - timedelta(hours=hours)
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=ids).delete()[0]
