"""Benchmark of the merchant back office's pages (issue 8), not a pytest module.

    python tests/bench/bench_pages.py [--rounds 30] [--check]

Builds a throw-away database (``DATABASE_URL``'s server, else a private embedded one, as the test
settings do), migrates it, loads the demo (``demo_data``: Lumen Electronics with two months of
plans, refunds, voids and daily statements), signs in as the demo owner with Django's test client
and requests every back-office page ``--rounds`` times, round-robin (so the machine's noise hits
each page alike), after one warm-up round. Database connections are kept between requests, as in
production (``CONN_MAX_AGE``). It prints each page's median, p90 and worst time, whole request
(middleware, session, queries, template) but no network, and the number of queries per request.

Target (issue 8): every page's median under 300 ms. ``--check`` exits 1 when one is not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.db import connection, connections  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

TARGET_MS = 300.0


def _pages() -> list[tuple[str, str]]:
    from campaigns.models import Campaign
    from installments.demo import DEMO_MERCHANT_ID
    from installments.plan_models import Plan
    from installments.settlement_models import Statement
    from merchants.models import Store

    merchant = DEMO_MERCHANT_ID
    live = Campaign.objects.filter(merchant_id=merchant, status="approved").order_by("name").first()
    refunded = (
        Plan.objects.filter(merchant_id=merchant, refunds__isnull=False, status="active")
        .order_by("created_at")
        .first()
    )
    statement = (
        Statement.objects.filter(merchant_id=merchant, lines__adjustment=True)
        .order_by("business_date")
        .first()
    )
    store = Store.objects.filter(merchant_id=merchant).order_by("code").first()
    return [
        ("dashboard", "/"),
        ("campaign list", "/campaigns/"),
        ("campaign detail", f"/campaigns/{live.pk}/"),
        ("plan list", "/plans/"),
        ("plan list, page 5", "/plans/?page=5"),
        ("plan list, filtered", f"/plans/?q=LX-2026&status=active&term=12&campaign={live.pk}"),
        ("plan list, search", "/plans/?q=C-1"),
        ("plan detail (refunded)", f"/plans/{refunded.pk}/"),
        ("plan CSV export (all)", "/plans/export/"),
        ("statement list", "/settlements/"),
        ("statement detail", f"/settlements/{statement.pk}/"),
        ("statement CSV", f"/settlements/{statement.pk}/csv/"),
        ("store list", "/stores/"),
        ("store edit", f"/stores/{store.pk}/"),
        ("member list", "/members/"),
        ("API key list", "/api-keys/"),
    ]


# Measured with a signed-out client (a signed-in one is sent on to the dashboard).
SIGNED_OUT_PAGES = [("sign-in page", "/accounts/login/")]


def _get(client, url: str) -> int:
    response = client.get(url)
    if response.streaming:
        b"".join(response.streaming_content)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return response.status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    from django.conf import settings
    from django.test import Client
    from django.test.utils import get_runner, setup_test_environment

    from installments.demo import DEMO_OWNER, demo_load

    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    failed = False
    try:
        began = time.perf_counter()
        demo_load()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        setup = time.perf_counter() - began
        # Keep connections between requests, as production does (the test settings close them).
        for alias in connections:
            connections[alias].settings_dict["CONN_MAX_AGE"] = 60
        settings.ALLOWED_HOSTS = ["testserver"]
        client = Client()
        username, password = DEMO_OWNER
        if (
            client.post(
                "/accounts/login/", {"username": username, "password": password}
            ).status_code
            != 302
        ):
            raise SystemExit("the demo owner could not sign in")
        anonymous = Client()
        pages = [(name, url, client) for name, url in _pages()]
        pages += [(name, url, anonymous) for name, url in SIGNED_OUT_PAGES]
        queries: dict[str, int] = {}
        for name, url, who in pages:  # warm-up round, counting queries
            with CaptureQueriesContext(connection) as captured:
                _get(who, url)
            queries[name] = len(captured)
        timings: dict[str, list[float]] = {name: [] for name, _, _ in pages}
        for _ in range(args.rounds):
            for name, url, who in pages:
                start = time.perf_counter()
                _get(who, url)
                timings[name].append((time.perf_counter() - start) * 1000)

        host = str(connection.settings_dict.get("HOST") or "")
        where = "embedded" if host.startswith("/") else host or "local socket"
        print(
            f"bench_pages: demo loaded in {setup:.1f} s into {where} "
            f"({connection.settings_dict['NAME']}); {args.rounds} rounds; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        print(f"{'page':<28} {'median ms':>9} {'p90 ms':>8} {'max ms':>8} {'queries':>8}")
        for name, _url, _who in pages:
            values = sorted(timings[name])
            median = statistics.median(values)
            p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
            ok = median < TARGET_MS
            failed |= not ok
            print(
                f"{name:<28} {median:>9.1f} {p90:>8.1f} {values[-1]:>8.1f} {queries[name]:>8}"
                f"{'' if ok else '  over target'}"
            )
        print(f"target: every median under {TARGET_MS:.0f} ms: {'met' if not failed else 'MISSED'}")
    finally:
        connections.close_all()
        runner.teardown_databases(old_config)
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
