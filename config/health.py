"""Probes for load balancers: ``/healthz`` (the process answers) and ``/readyz`` (it can serve).

Both are answered by ``ProbeMiddleware``, ahead of the host check, the HTTPS redirect and the rest:
load balancers probe each instance by its address over plain HTTP, which ``ALLOWED_HOSTS`` would
refuse (400) and ``SECURE_SSL_REDIRECT`` would redirect.

``/readyz`` checks that PostgreSQL answers and every migration is applied, and that each Redis the
deployment uses answers (the cache that holds the API's rate limits, and the Celery broker when it
is Redis). It answers within about a second whatever is down (Redis clients give up after 1 s,
PostgreSQL statements after 2 s) and never with a 500: anything unexpected is reported as the
check's failure, with 503."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT_SECONDS = 1.0
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
# Once every migration is applied it stays so for this process's life (a deployment that brings
# new migrations brings new processes): loading the migration graph is the probe's slowest part.
_migrations_applied = False


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _redis_urls() -> dict[str, str]:
    """Name → URL of each Redis this process depends on."""
    urls: dict[str, str] = {}
    cache = settings.CACHES.get("default", {})
    if cache.get("BACKEND") == "django.core.cache.backends.redis.RedisCache":
        location = cache["LOCATION"]
        urls["redis"] = location if isinstance(location, str) else location[0]
    broker = settings.CELERY_BROKER_URL or ""
    if broker.startswith(("redis://", "rediss://", "unix://")):
        urls["broker"] = broker
    return urls


def _redis_client(url: str) -> redis.Redis:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=_PROBE_TIMEOUT_SECONDS,
                socket_timeout=_PROBE_TIMEOUT_SECONDS,
            )
            _clients[url] = client
        return client


def _check_database(checks: dict[str, str]) -> None:
    global _migrations_applied
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 2000")
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
        return
    if _migrations_applied:
        checks["migrations"] = "ok"
        return
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        checks["migrations"] = f"unknown: {exc.__class__.__name__}"
        return
    _migrations_applied = not pending
    checks["migrations"] = "ok" if not pending else f"{len(pending)} pending"


def readyz(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    checks: dict[str, str] = {}
    _check_database(checks)
    for name, url in _redis_urls().items():
        try:
            _redis_client(url).ping()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {exc.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values())
    response = JsonResponse(
        {
            "status": "ok" if ready else "unavailable",
            "checks": checks,
            "duration_ms": round(1000 * (time.perf_counter() - started), 1),
        },
        status=200 if ready else 503,
    )
    if not ready:
        logger.warning("not ready: %s", checks)
        response._has_been_logged = True  # said above; Django would log the 503 as an error too
    return response


class ProbeMiddleware:
    """Answers ``GET``/``HEAD`` ``/healthz`` and ``/readyz`` before any other middleware but the
    request id's (see the module's docstring)."""

    PROBES = {"/healthz": healthz, "/readyz": readyz}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
