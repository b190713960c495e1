"""Benchmark of campaign matching (issue 5), not a pytest module.

    python tests/bench/bench_matching.py [--quotes N] [--others 100000] [--check]

Builds, in a throw-away database (the embedded server, or ``DATABASE_URL``'s server), one merchant
with 1 and then 100 live campaigns (tiers, scopes, daily caps), and times ``offers_match`` for a
mixed basket, first with no other merchants' campaigns in the database and then with ``--others``
(default 100,000) campaigns of 1,000 other merchants, most of them live. It reports the median and
p99 per quote and the ratios measured in this one run.

Targets (issue 5): with 100,000 other merchants' campaigns within 10 % of the time with none; with
100 live campaigns under 5 ms per quote. ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

TARGET_RATIO_OTHERS = 1.10
TARGET_MS_100 = 5.0


def _make_merchant(name: str):
    from merchants.models import Merchant

    return Merchant.objects.create(name=name)


def _add_live_campaigns(merchant, count: int, *, start_index: int = 0) -> None:
    """``count`` approved campaigns open now: a mix of all-products, category-scoped, capped and
    tiered ones, so matching does its real work."""
    from campaigns.models import Campaign, Offer

    now = timezone.now()
    campaigns = []
    for i in range(start_index, start_index + count):
        kind = i % 4
        campaigns.append(
            Campaign(
                merchant=merchant,
                name=f"Bench {i}",
                status="approved",
                starts_at=now - timedelta(days=1, minutes=i),
                ends_at=now + timedelta(days=30),
                all_products=kind != 1,
                categories=["phones"] if kind == 1 else [],
                exclude_skus=["REFURB"] if kind == 2 else [],
                channels=["online", "in_store"] if kind != 3 else ["online"],
                budget_total=1_000_000_000 + i,
                daily_cap=50_000_000 if kind == 2 else None,
            )
        )
    Campaign.objects.bulk_create(campaigns)
    offers = []
    for i, campaign in enumerate(campaigns):
        offers.append(Offer(campaign=campaign, merchant=merchant, term=12, merchant_share_bp=5000))
        offers.append(
            Offer(
                campaign=campaign,
                merchant=merchant,
                term=12,
                merchant_share_bp=10000,
                min_amount=300_000 + i,
            )
        )
        offers.append(Offer(campaign=campaign, merchant=merchant, term=3, merchant_share_bp=10000))
        offers.append(Offer(campaign=campaign, merchant=merchant, term=6, merchant_share_bp=3000))
    Offer.objects.bulk_create(offers)


def _add_other_merchants(total: int, merchants: int = 1_000) -> None:
    """``total`` campaigns of ``merchants`` other merchants, inserted set-based: most approved and
    live now (the worst case for an index that did not lead with the merchant), one offer each."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO merchants_merchant (id, name, legal_name, currency, timezone, status,
                                            frozen_reason, paid_terms_disabled, created_at,
                                            updated_at)
            SELECT gen_random_uuid(), 'Other ' || g, '', 'CNY', 'Asia/Shanghai', 'active', '',
                   '{}', now(), now()
              FROM generate_series(1, %(merchants)s) g
            """,
            {"merchants": merchants},
        )
        cursor.execute(
            """
            WITH m AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM merchants_merchant
                        WHERE name LIKE 'Other %%')
            INSERT INTO campaigns_campaign (
                id, merchant_id, name, description, status, starts_at, ends_at, all_products,
                categories, skus, exclude_skus, stores, channels, min_amount, max_amount,
                budget_total, daily_cap, alert_threshold_bp, alert_emails, per_consumer_limit,
                budget_used, stacks_with_government_subsidy, rejection_reason, created_at,
                updated_at, alert_arm)
            SELECT gen_random_uuid(), m.id, 'Other campaign ' || g, '',
                   CASE WHEN g %% 10 = 0 THEN 'ended' ELSE 'approved' END,
                   now() - interval '1 day', now() + interval '30 days', true,
                   '{}', '{}', '{}', '{}', '{online,in_store}', NULL, NULL,
                   100000000, NULL, 8000, '{}', NULL, 0, true, '', now(), now(), 0
              FROM generate_series(1, %(total)s) g
              JOIN m ON m.n = 1 + (g %% %(merchants)s)
            """,
            {"total": total, "merchants": merchants},
        )
        cursor.execute(
            """
            INSERT INTO campaigns_offer (campaign_id, merchant_id, term, merchant_share_bp,
                                         min_amount)
            SELECT c.id, c.merchant_id, 12, 10000, 0 FROM campaigns_campaign c
             WHERE c.name LIKE 'Other campaign %%'
            """
        )
        cursor.execute("ANALYZE")


def _time_quotes(merchant, quotes: int) -> tuple[float, float]:
    from campaigns.matching import Basket, BasketLine, offers_match

    basket = Basket(
        amount=699_900,
        lines=(
            BasketLine("P70", "phones", 500_000),
            BasketLine("CASE", "accessories", 99_900),
            BasketLine("REFURB", "phones", 100_000),
        ),
        channel="online",
        consumer_ref="bench-consumer",
    )
    for _ in range(min(50, quotes)):  # warm caches and the connection
        offers_match(merchant=merchant, basket=basket)
    samples = []
    for _ in range(quotes):
        started = time.perf_counter()
        offers_match(merchant=merchant, basket=basket)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def _plan_of_live_query(merchant) -> str:
    """The plan PostgreSQL uses for the live-campaign read: it must go through campaign_live_idx."""
    import psycopg

    from campaigns.matching import live_budgets_statement

    sql, params = live_budgets_statement(
        merchant=merchant, at=timezone.now(), consumer_ref="bench-consumer"
    )
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        lines = [row[0] for row in cursor.fetchall()]
    scans = [
        line.strip()
        for line in lines
        if "campaign_live_idx" in line or ("Scan" in line and "campaign c" in line)
    ]
    timing = [line.strip() for line in lines if line.startswith("Execution Time")]
    return "; ".join(scans + timing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quotes", type=int, default=2000)
    parser.add_argument("--others", type=int, default=100_000)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    from django.conf import settings
    from django.test.utils import get_runner, setup_test_environment

    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        merchant = _make_merchant("Bench merchant")
        _add_live_campaigns(merchant, 1)
        results = {}
        results["1 live, 0 others"] = _time_quotes(merchant, args.quotes)
        plans = {"1 live, 0 others": _plan_of_live_query(merchant)}
        _add_live_campaigns(merchant, 99, start_index=1)
        results["100 live, 0 others"] = _time_quotes(merchant, args.quotes)
        started = time.perf_counter()
        _add_other_merchants(args.others)
        loaded = time.perf_counter() - started
        results[f"1 live, {args.others:,} others"] = None  # filled below
        lone = _make_merchant("Bench merchant (one campaign)")
        _add_live_campaigns(lone, 1)
        results[f"1 live, {args.others:,} others"] = _time_quotes(lone, args.quotes)
        results[f"100 live, {args.others:,} others"] = _time_quotes(merchant, args.quotes)
        plans[f"100 live, {args.others:,} others"] = _plan_of_live_query(merchant)
    finally:
        runner.teardown_databases(old_config)

    print(
        f"matching: {args.quotes} quotes per case, one process ({args.others:,} others loaded in {loaded:.1f} s)"
    )
    for name, (median, p99) in results.items():
        print(f"  {name:<28} median {median:6.3f} ms   p99 {p99:6.3f} ms")
    for name, plan in plans.items():
        print(f"  plan, {name}: {plan}")
    ratio_1 = results[f"1 live, {args.others:,} others"][0] / results["1 live, 0 others"][0]
    ratio_100 = results[f"100 live, {args.others:,} others"][0] / results["100 live, 0 others"][0]
    median_100 = results[f"100 live, {args.others:,} others"][0]
    print(
        f"  ratio with/without others: 1 live {ratio_1:.3f}, 100 live {ratio_100:.3f}"
        f" (target <= {TARGET_RATIO_OTHERS:.2f})"
    )
    print(f"  100 live campaigns: {median_100:.3f} ms per quote (target < {TARGET_MS_100} ms)")
    ok = max(ratio_1, ratio_100) <= TARGET_RATIO_OTHERS and median_100 < TARGET_MS_100
    print("  targets met" if ok else "  TARGET MISSED")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
