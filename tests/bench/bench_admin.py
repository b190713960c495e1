"""Benchmark of the operators' console on 1,000,000 plans (issue 10), not a pytest module.

    python tests/bench/bench_admin.py [--plans 1000000] [--merchants 1000] [--rounds 15] [--check]
                                      [--explain]

Builds a throw-away database (``DATABASE_URL``'s server, else a private embedded one, as the test
settings do), migrates it and loads, set-based in SQL (``INSERT … SELECT … FROM generate_series``,
triggers off for the load only), ``--merchants`` merchants with two stores and one approved
campaign each and ``--plans`` plans spread evenly over them and over the last year (every second
one with the merchant's campaign; 3, 6 and 12 terms; 10 % test plans; 2 % voided, 2 % refunded),
then VACUUM ANALYZE. It signs a superuser in with Django's test client and requests each console
page ``--rounds`` times, round-robin, after one warm-up round that counts the queries. Database
connections are kept between requests, as in production. It prints each page's median, p90 and
worst time (whole request: middleware, session, queries, template; no network) and the count the
list shows (exact up to 10,000 rows, else the planner's estimate).

Target (issue 10): the plans changelist under 500 ms; ``--check`` exits 1 when a plans page's
median is not. ``--explain`` prints the plan of the changelist's queries.
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

from django.db import connection, connections, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

TARGET_MS = 500.0


def load(*, plans: int, merchants: int) -> None:
    """Merchants, stores, campaigns and plans, set-based."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            """
            CREATE TEMP TABLE bench_merchant AS
            SELECT g AS n, gen_random_uuid() AS merchant_id, gen_random_uuid() AS campaign_id
              FROM generate_series(0, %(m)s - 1) g
            """,
            {"m": merchants},
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_merchant (n)")
        cursor.execute(
            """
            INSERT INTO merchants_merchant (id, name, legal_name, currency, timezone, status,
                                            frozen_reason, paid_terms_disabled, created_at,
                                            updated_at)
            SELECT merchant_id, 'Bench merchant ' || n, '', 'CNY', 'Asia/Shanghai', 'active', '',
                   '{}', now(), now()
              FROM bench_merchant
            """
        )
        cursor.execute(
            """
            INSERT INTO merchants_store (merchant_id, code, name, city, active, created_at,
                                         updated_at)
            SELECT merchant_id, 'ST' || n || '-' || s, 'Store ' || s, 'Shanghai', true, now(),
                   now()
              FROM bench_merchant CROSS JOIN generate_series(1, 2) s
            """
        )
        cursor.execute(
            """
            INSERT INTO campaigns_campaign (
                id, merchant_id, name, description, status, starts_at, ends_at, all_products,
                categories, skus, exclude_skus, stores, channels, min_amount, max_amount,
                budget_total, daily_cap, alert_threshold_bp, alert_emails, per_consumer_limit,
                budget_used, stacks_with_government_subsidy, rejection_reason, created_at,
                updated_at, alert_arm)
            SELECT campaign_id, merchant_id, 'Bench campaign ' || n, '', 'approved',
                   now() - interval '400 days', now() + interval '60 days', true,
                   '{}', '{}', '{}', '{}', '{online,in_store}', NULL, NULL,
                   1000000000000, NULL, 8000, '{}', NULL, 0, true, '', now(), now(), 0
              FROM bench_merchant
            """
        )
        # Plan g: merchant g % M, created g × (one year / plans) ago; amounts follow §3.2's
        # constraints (P = A − G, C = F − W, refunds within P).
        cursor.execute(
            """
            INSERT INTO installments_plan (
                id, merchant_id, test, status, merchant_order_ref, consumer_ref, store, channel,
                currency, term, order_amount, government_subsidy, original_financed_amount,
                financed_amount, eligible_amount, consumer_fee_full, waived_fee, consumer_fee,
                merchant_subsidy, apr, refunded_amount, order_amount_remaining,
                in_scope_remaining, consumer_rate, merchant_rate, share_bp, statement_day,
                due_day, rounding, purchase_date, fee_table_id, fee_override_id,
                platform_settings_id, campaign_id, campaign_name, offer_id, offer_min_amount,
                charge_day, created_at, voided_at, updated_at)
            SELECT gen_random_uuid(), b.merchant_id, g %% 10 = 0,
                   CASE WHEN g %% 50 = 1 THEN 'voided' WHEN g %% 50 = 2 THEN 'refunded'
                        ELSE 'active' END,
                   'SO-' || g, 'C-' || (g %% 50000), 'ST' || b.n || '-1', 'online', 'CNY', x.term,
                   x.a, 0, x.a,
                   CASE WHEN g %% 50 = 2 THEN 0 ELSE x.a END,
                   CASE WHEN g %% 50 = 2 THEN 0 ELSE x.a END,
                   x.f, x.w, x.f - x.w, x.m, CASE WHEN x.f = x.w THEN '0.00' ELSE '13.57' END,
                   CASE WHEN g %% 50 = 2 THEN x.a ELSE 0 END, x.a, x.a,
                   0.075, 0.075, x.share, 1, 10, 'half_up', x.created::date, NULL, NULL, NULL,
                   CASE WHEN x.share > 0 THEN b.campaign_id END,
                   CASE WHEN x.share > 0 THEN 'Bench campaign ' || b.n ELSE '' END,
                   NULL, NULL, CASE WHEN x.share > 0 THEN x.created::date END,
                   x.created, CASE WHEN g %% 50 = 1 THEN x.created END, x.created
              FROM generate_series(0::bigint, %(plans)s - 1) g
              JOIN bench_merchant b ON b.n = g %% %(m)s
             CROSS JOIN LATERAL (
                   SELECT (ARRAY[3, 6, 12])[(1 + g %% 3)::int] AS term,
                          10000 + (g * 7919) %% 900000 AS a,
                          CASE WHEN g %% 2 = 0 THEN 10000 ELSE 0 END AS share,
                          now() - g * (interval '365 days' / %(plans)s) AS created) AS y
             CROSS JOIN LATERAL (
                   SELECT y.term, y.a, y.share, y.created,
                          CASE WHEN g %% 50 = 2 THEN 0 ELSE (y.a * 75 + 500) / 1000 END AS f,
                          CASE WHEN g %% 50 = 2 OR y.share = 0 THEN 0
                               ELSE (y.a * 75 + 500) / 1000 END AS w,
                          CASE WHEN g %% 50 IN (1, 2) OR y.share = 0 THEN 0
                               ELSE (y.a * 75 + 500) / 1000 END AS m) AS x
            """,
            {"plans": plans, "m": merchants},
        )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_merchant")
    vacuum()


def vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _pages() -> list[tuple[str, str]]:
    from installments.plan_models import Plan
    from merchants.models import Merchant

    recent = Plan.objects.filter(status="active", campaign__isnull=False).order_by("-created_at")
    plan = Plan.objects.get(pk=list(recent.values_list("pk", flat=True)[:5000])[-1])
    merchant = Merchant.objects.order_by("name").first()
    return [
        ("plans: changelist", "/admin/installments/plan/"),
        ("plans: page 50", "/admin/installments/plan/?p=50"),
        ("plans: status voided", "/admin/installments/plan/?status__exact=voided"),
        ("plans: test plans, 6 terms", "/admin/installments/plan/?test__exact=1&term=6"),
        ("plans: created past 7 days", _last_days_url(7)),
        ("plans: search order ref", f"/admin/installments/plan/?q={plan.merchant_order_ref}"),
        ("plans: search plan id", f"/admin/installments/plan/?q={plan.pk}"),
        ("plans: search merchant id", f"/admin/installments/plan/?q={merchant.pk}"),
        ("plans: search consumer ref", "/admin/installments/plan/?q=C-4242"),
        ("plan change page", f"/admin/installments/plan/{plan.pk}/change/"),
        ("merchants: changelist", "/admin/merchants/merchant/"),
        ("merchants: search store code", "/admin/merchants/merchant/?q=ST42-1"),
        ("merchants: search name", "/admin/merchants/merchant/?q=merchant%2042"),
        ("campaigns: review queue", "/admin/campaigns/campaign/"),
    ]


def _last_days_url(days: int) -> str:
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    since = today - timedelta(days=days)
    tomorrow = today + timedelta(days=1)
    return (
        f"/admin/installments/plan/?created_at__gte={since}+00%3A00%3A00%2B08%3A00"
        f"&created_at__lt={tomorrow}+00%3A00%3A00%2B08%3A00"
    )


def explain(client, url: str) -> None:
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    for query in captured.captured_queries:
        if "installments_plan" not in query["sql"]:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print(f"\n{query['sql'][:300]}…")
            for (line,) in cursor.fetchall():
                print("   ", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plans", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import get_runner, setup_test_environment

    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    failed = False
    try:
        began = time.perf_counter()
        load(plans=args.plans, merchants=args.merchants)
        print(
            f"loaded {args.plans:,} plans of {args.merchants:,} merchants in"
            f" {time.perf_counter() - began:.1f} s; {os.cpu_count()} CPUs,"
            f" load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for alias in connections:
            connections[alias].settings_dict["CONN_MAX_AGE"] = 60
        settings.ALLOWED_HOSTS = ["testserver"]
        user = get_user_model().objects.create_superuser("bench-root", "root@example.com", "x")
        client = Client()
        client.force_login(user)
        pages = _pages()
        queries: dict[str, int] = {}
        shown: dict[str, str] = {}
        for name, url in pages:  # warm-up round, counting queries
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            queries[name] = len(captured)
            cl = (response.context or {}).get("cl")
            if cl is not None:
                estimated = getattr(cl.paginator, "estimated", False)
                shown[name] = f"{'about ' if estimated else ''}{cl.result_count:,}"
        if args.explain:
            explain(client, "/admin/installments/plan/")
        timings: dict[str, list[float]] = {name: [] for name, _ in pages}
        for _ in range(args.rounds):
            for name, url in pages:
                start = time.perf_counter()
                client.get(url)
                timings[name].append((time.perf_counter() - start) * 1000)
        print(f"{'page':32} {'median':>8} {'p90':>8} {'worst':>8} {'queries':>8}  rows shown")
        for name, _ in pages:
            values = sorted(timings[name])
            median = statistics.median(values)
            p90 = values[max(0, int(len(values) * 0.9) - 1)]
            flag = ""
            if name.startswith("plan") and median >= TARGET_MS:
                flag = "  ← over the target"
                failed = True
            print(
                f"{name:32} {median:7.1f}ms {p90:7.1f}ms {values[-1]:7.1f}ms"
                f" {queries[name]:8}  {shown.get(name, '')}{flag}"
            )
        print(f"target: every plans page's median under {TARGET_MS:.0f} ms", flush=True)
    finally:
        connections.close_all()
        runner.teardown_databases(old_config)
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
