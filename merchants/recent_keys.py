"""API-key lookups a web process made in the last second, for quotes only.

Every API request authenticates its key, and for a quote that lookup was a third of the work. A
quote moves no money: it prices a basket and signs the answer, and the commit that might use it
authenticates its own key against the database and re-checks the merchant. So a quote may take a
lookup up to ``API_KEY_RECENT_SECONDS`` old (default 1 s), and a key revoked or a merchant frozen
in another process may still be quoted for that long; voids, refunds, commits and reads never use
this. Revoking, freezing and unfreezing forget this process's entries at once (the admin and the
back office run in the web processes too)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from merchants.models import ApiKey

_MAX_ENTRIES = 10_000
# prefix -> (when it was read, the key with its merchant). The key is shared by the threads that
# quote with it and must be treated as read-only, as a quote does.
_keys: dict[str, tuple[float, ApiKey]] = {}


def recent_key(prefix: str) -> ApiKey | None:
    found = _keys.get(prefix)
    if found is None or time.monotonic() - found[0] > settings.API_KEY_RECENT_SECONDS:
        return None
    return found[1]


def recent_key_remember(prefix: str, api_key: ApiKey) -> None:
    if len(_keys) >= _MAX_ENTRIES:
        _keys.clear()  # keys are few; a flood of distinct ones just starts the memory afresh
    _keys[prefix] = (time.monotonic(), api_key)


def recent_keys_forget() -> None:
    _keys.clear()
