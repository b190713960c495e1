"""PostgreSQL's connections killed (``pg_terminate_backend``) while checkouts run (the issue's
failure tests): requests caught in flight fail cleanly with a ``503 service_unavailable`` problem
(their transaction dies with the connection: nothing half-done), the web processes reconnect by
themselves, and retrying each failed POST with its ``Idempotency-Key`` completes it exactly once."""

from __future__ import annotations

import time

from tests.resilience.harness import Traffic, wait_until

_KILL = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND backend_type = 'client backend' AND application_name <> 'resilience test'
"""


def test_checkouts_recover_after_postgres_connections_are_killed(product, web):
    shops = product.seed(
        [
            {"name": "Killed connections, open budget", "budget_plans": None},
            {"name": "Killed connections, small budget", "budget_plans": 15},
        ]
    )
    traffic = Traffic(web.port, shops, clients=4)
    killed = kills = 0
    traffic.start()
    try:
        with product.postgres.connect() as admin:
            time.sleep(1.5)
            # Kill every connection of the web processes, again and again, until requests have
            # been caught in flight (at most 20 times).
            while kills < 20 and (kills < 4 or not traffic.unavailable()):
                killed += admin.execute(_KILL).fetchone()[0]
                kills += 1
                time.sleep(0.4 + 0.1 * (kills % 3))
        last_kill = time.monotonic()
        time.sleep(3)
    finally:
        traffic.stop()

    assert killed > 0
    assert traffic.unexpected() == []
    assert traffic.unavailable(), "no request was caught by the kills"
    after = [c for c in traffic.calls if c.started > last_kill + 0.5]
    assert after and all(c.answer.status != 503 for c in after), "the API did not recover"
    assert web.get("/readyz").status == 200
    # The web processes logged each failure as an outage, not as a crash.
    records = web.log_records()
    assert any("database unavailable" in r["message"] for r in records)
    assert not any(r.get("status") == 500 for r in records)

    final = traffic.finish()
    traffic.check_outcomes(product, final)
    product.check_books()


def test_readyz_says_when_postgres_is_down_and_recovers(product, web):
    product.postgres.stop("fast")
    try:
        started = time.monotonic()
        ready = web.get("/readyz")
        assert time.monotonic() - started < 3
        assert ready.status == 503
        assert ready.body["checks"]["database"].startswith("unavailable")
        assert web.get("/healthz").status == 200
    finally:
        product.postgres.start()
    wait_until(lambda: web.get("/readyz").status == 200, timeout=15, what="/readyz to be 200")
