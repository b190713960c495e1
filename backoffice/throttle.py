"""Sign-in throttling: after ``limit`` failures for one username from one address within the window
(a fixed window that opens at the first failure), that pair is locked out until the window ends.

The cache is Redis in production (shared by every web process and host) and process memory
elsewhere. Keys hold a digest, never the username itself."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The peer's address. Behind a proxy this is the proxy's unless the proxy sets REMOTE_ADDR
    (gunicorn's ``--forwarded-allow-ips``); X-Forwarded-For is not trusted, as anyone can send it."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


@dataclass(frozen=True, slots=True)
class Throttle:
    """Counts failures per (scope, identity, address) and locks the triple out at ``limit``."""

    scope: str
    limit: int
    window_seconds: int

    def _key(self, identity: str, address: str) -> str:
        digest = hashlib.sha256(f"{identity.strip().casefold()}\x00{address}".encode()).hexdigest()
        return f"throttle:{self.scope}:{digest}"

    def retry_after(self, *, identity: str, address: str) -> int:
        """Seconds until the lock-out ends; 0 when not locked out."""
        key = self._key(identity, address)
        failures = cache.get(key)
        if failures is None or failures < self.limit:
            return 0
        until = cache.get(f"{key}:until") or time.time() + self.window_seconds
        return max(1, int(until - time.time()))

    def hit(self, *, identity: str, address: str) -> int:
        """Count one failure; returns the failures counted in the current window. ``incr`` is
        atomic (in Redis and in process memory), so parallel failures are all counted."""
        key = self._key(identity, address)
        if cache.add(key, 0, timeout=self.window_seconds):
            cache.set(f"{key}:until", time.time() + self.window_seconds, self.window_seconds)
        try:
            return cache.incr(key)
        except ValueError:  # the window ended between add and incr: this failure opens a new one
            cache.add(key, 1, timeout=self.window_seconds)
            return 1

    def clear(self, *, identity: str, address: str) -> None:
        key = self._key(identity, address)
        cache.delete_many([key, f"{key}:until"])


def login_throttle() -> Throttle:
    return Throttle(
        scope="login",
        limit=settings.BACKOFFICE_LOGIN_MAX_FAILURES,
        window_seconds=settings.BACKOFFICE_LOGIN_LOCKOUT_SECONDS,
    )


def password_reset_throttle() -> Throttle:
    return Throttle(
        scope="password-reset",
        limit=settings.BACKOFFICE_PASSWORD_RESET_MAX_REQUESTS,
        window_seconds=settings.BACKOFFICE_PASSWORD_RESET_WINDOW_SECONDS,
    )
