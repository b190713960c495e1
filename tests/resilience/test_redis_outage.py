"""Redis stopped and started again while checkouts run (the issue's failure tests): quotes, commits,
refunds and voids either succeed or fail cleanly with a ``503 service_unavailable`` problem, none
is half-done, idempotency keys (in PostgreSQL) hold, and the API recovers by itself: readiness comes
back and the per-key rate limits are counted in Redis again."""

from __future__ import annotations

import time

import redis

from tests.resilience.harness import Traffic, wait_until


def test_checkouts_go_on_through_a_redis_restart(product, private_redis, web):
    shops = product.seed(
        [
            {"name": "Redis outage, open budget", "budget_plans": None},
            {"name": "Redis outage, small budget", "budget_plans": 15},
        ]
    )
    traffic = Traffic(web.port, shops, clients=4)
    traffic.start()
    try:
        time.sleep(2)
        private_redis.stop()
        down = time.monotonic()
        time.sleep(0.5)
        ready = web.get("/readyz")
        assert ready.status == 503, ready.raw
        assert ready.body["checks"]["redis"].startswith("unavailable")
        assert ready.body["checks"]["database"] == "ok"
        assert ready.body["duration_ms"] < 1500
        time.sleep(3)
        private_redis.start()
        up = time.monotonic()
        # The throttle counts in Redis again by itself (after its breaker's few seconds).
        cache = redis.Redis.from_url(private_redis.url(1))
        wait_until(lambda: cache.keys("*throttle_api_key*"), timeout=15, what="rate-limit counters")
        time.sleep(1)
    finally:
        if private_redis.process is None:
            private_redis.start()
        traffic.stop()

    assert traffic.unexpected() == []
    during = [c for c in traffic.calls if down < c.started and c.answer.at < up]
    assert any(c.kind == "commit" and c.answer.status == 201 for c in during), (
        "no checkout went through while Redis was down"
    )
    assert {c.kind for c in traffic.calls} >= {"quote", "commit", "refund", "void", "lookup"}
    wait_until(lambda: web.get("/readyz").status == 200, timeout=10, what="/readyz to be 200")

    final = traffic.finish()
    traffic.check_outcomes(product, final)
    product.check_books()
