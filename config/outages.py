"""A service the request needs is down (PostgreSQL, Redis, the Celery broker): answer ``503`` with
``Retry-After`` rather than ``500``, everywhere.

The API's exception handler (``merchants.api_base``) answers a ``service_unavailable`` problem for
its views; ``server_error`` (Django's ``handler500``) does the same for anything else that escapes a
view, including middleware: a problem for ``/api/`` paths, a page elsewhere. Nothing half-done is
left behind by such a failure: every write runs in one transaction, which PostgreSQL rolls back
when the connection is lost, and a retry of an idempotent POST either replays the stored outcome or
runs the work afresh."""

from __future__ import annotations

import json
import logging
import sys

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

_OUTAGES: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("database", (OperationalError, InterfaceError)),
    # ConnectionError covers BusyLoadingError (a restarted Redis loading its data); ReadOnlyError
    # is a replica that has not been promoted yet after a failover.
    (
        "redis",
        (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.ReadOnlyError,
        ),
    ),
    ("broker", (kombu.exceptions.OperationalError,)),
)

UNAVAILABLE_DETAIL = (
    "A service this request needs is unavailable. Retry later; an idempotent request retried with "
    "the same Idempotency-Key is either replayed or done once."
)


def outage_of(exc: BaseException | None) -> str | None:
    """Which service is down when ``exc`` (or what caused it) says one is: ``"database"``,
    ``"redis"`` or ``"broker"``; ``None`` for any other error."""
    seen = 0
    while exc is not None and seen < 5:
        for service, types in _OUTAGES:
            if isinstance(exc, types):
                return service
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def problem_body() -> dict[str, object]:
    return {
        "type": "/api/problems/service_unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": UNAVAILABLE_DETAIL,
        "code": "service_unavailable",
    }


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's ``handler500``: ``503`` when the uncaught exception is an outage, else the 500
    page. (Django calls it inside its ``except`` block, so the exception is ``sys.exc_info()``.)"""
    service = outage_of(sys.exc_info()[1])
    if service is None:
        return HttpResponseServerError(loader.get_template("500.html").render())
    if request.path.startswith("/api/"):
        response = HttpResponse(
            json.dumps(problem_body()), status=503, content_type="application/problem+json"
        )
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
