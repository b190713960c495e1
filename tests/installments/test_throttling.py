"""Per-key rate limits (DESIGN.md §6): 429 ``throttled`` with Retry-After, per key, ahead of every
other problem but authentication."""

import pytest
from django.core.cache import cache

from merchants.api_base import ApiKeyRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_per_minute(monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    cache.clear()
    yield
    cache.clear()


def test_a_key_over_its_rate_is_throttled_and_another_key_is_not(
    three_per_minute, merchant, api_client_for
):
    first, second = api_client_for(merchant), api_client_for(merchant)
    for _ in range(3):
        assert first.get("/api/v1/plans").status_code == 200
    throttled = first.get("/api/v1/plans")
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert second.get("/api/v1/plans").status_code == 200


def test_throttling_wins_over_a_missing_idempotency_key_and_bad_input(
    three_per_minute, merchant, api_client_for
):
    client = api_client_for(merchant)
    for _ in range(3):
        client.get("/api/v1/stores")
    response = client.post("/api/v1/plans", {"term": "twelve"}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "throttled"


def test_authentication_wins_over_throttling(three_per_minute, client):
    response = client.post("/api/v1/quotes", {}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_on_redis_the_count_is_one_round_trip_and_the_window_expires(
    monkeypatch, merchant, api_client_for, redis_url, settings
):
    """Production keeps the counters in Redis: INCR and EXPIRE in one pipelined round trip.

    The throttle keeps DRF's default cache, Django's ``cache`` proxy, as production does (a test
    that handed it the backend itself once hid that the proxy defeated the Redis path)."""
    import redis

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"throttle-test-{merchant.pk}",
        }
    }
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    client = api_client_for(merchant)
    server = redis.Redis.from_url(redis_url)
    before = server.info("commandstats")
    for _ in range(3):
        assert client.get("/api/v1/stores").status_code == 200
    assert client.get("/api/v1/stores").status_code == 429
    after = server.info("commandstats")

    def calls(name: str) -> int:
        return after.get(f"cmdstat_{name}", {}).get("calls", 0) - before.get(
            f"cmdstat_{name}", {}
        ).get("calls", 0)

    # redis-py sends INCR as INCRBY; Django's add and incr would have sent SET NX and EXISTS.
    assert calls("incrby") >= 4 and calls("exists") == 0 and calls("set") == 0
    keys = server.keys(f"throttle-test-{merchant.pk}:*")
    assert keys and all(0 < server.ttl(key) <= 61 for key in keys)
    server.delete(*keys)


def test_parallel_requests_in_one_process_are_counted_exactly(monkeypatch):
    """The in-memory count (one incr, an add at a window's start) under 8 threads at once: exactly
    the allowance gets through, whoever creates the window's key."""
    import threading

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "50/min"})
    monkeypatch.setattr("time.time", lambda: 1_764_467_010.0)  # mid-window, whenever it runs
    cache.clear()
    allowed = []
    start = threading.Barrier(8)

    def requests() -> None:
        start.wait()
        allowed.extend(ApiKeyRateThrottle().allow_api_key("parallel") for _ in range(20))

    threads = [threading.Thread(target=requests) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache.clear()
    assert len(allowed) == 160 and allowed.count(True) == 50
