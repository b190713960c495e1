"""Load test of the checkout API in its production shape, not a pytest module.

    python tests/bench/load_checkout.py [--duration 60] [--fraction 0.8] [--rate OPS]
                                        [--find-for 20] [--merchants 20] [--others 10000] [--check]

Builds a throw-away database (``DATABASE_URL``'s server, else a private embedded one, as the test
settings do) with ``--merchants`` shops, each with a live API key, a live campaign (half of them
with a budget for 25 more plans, which runs out during the run) and a few plans already made, plus ``--others``
campaigns of 1,000 other merchants. Starts a private Redis (the rate limits' cache and the Celery
broker, as in production) on a port of ``TEST_PORT_RANGE`` (9100-9199 unless set) and gunicorn
with ``gunicorn.conf.py`` and ``config.settings.production`` (2 workers × 4 threads, JSON logs,
the production per-key rate limit) on 127.0.0.1, and drives it from this process with an asyncio
HTTP/1.1 client (no extra package) over kept-alive connections.

The mix, per operation: 40 % quotes, 25 % checkouts (a quote, then the commit of its 12-term
option with an ``Idempotency-Key``), 20 % lookups (a plan, or a page of plans), 8 % partial
refunds and 7 % voids of plans made earlier.

1. The saturating rate: operations per second with ``--concurrency`` clients in a closed loop
   (each sends its next operation when the last is answered) for ``--find-for`` seconds.
2. The run: ``--fraction`` of that rate (or ``--rate``) for ``--duration`` seconds in an open loop:
   operations are due on a fixed schedule and sent over at most ``--connections`` connections;
   each is timed from when it was due, so a server that falls behind cannot slow the load down.
3. ``manage.py reconcile`` on the database, and the campaigns' budgets against their totals.

It prints the throughput, p50/p99 per kind of request, every answer that is not the expected one
(by status and code), and what the server logged as errors. ``--check`` exits 1 on any 5xx, a
dropped connection, an error logged, a failed reconcile, an overspent budget, or a run that kept
less than 95 % of its target rate.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from bench_api import Pool, _percentile_ms, _server_database_url, http_request  # noqa: E402
from bench_matching import _add_other_merchants  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from tests.resilience.harness import PrivateRedis, Product  # noqa: E402

TERM = 12
BASKET = {
    "currency": "CNY",
    "amount": 599_900,
    "channel": "online",
    "lines": [{"sku": "LX-P70", "category": "phones", "amount": 599_900}],
}
MIX = (("quote", 40), ("checkout", 25), ("lookup", 20), ("refund", 8), ("void", 7))
REFUND = 100_000
# What each request may answer; anything else is reported (409 offer_changed: the budget ran out
# between a quote and its commit).
EXPECTED = {
    "quote": {200},
    "commit": {201, 409},
    "plan": {200},
    "plans": {200},
    "refund": {201},
    "void": {200},
}


# --------------------------------------------------------------------------------------------------
# The shops


@dataclass
class Shop:
    name: str
    key: str
    plans: list[str] = field(default_factory=list)  # free for a refund or a void
    refunded: dict[str, int] = field(default_factory=dict)
    subsidy: int = 0  # of one plan on the shop's campaign
    campaign_id: object = None  # of a campaign with a small budget


def _shops(count: int, plans_each: int) -> list[Shop]:
    from campaigns.matching import Basket, offers_match
    from campaigns.models import Campaign, Offer
    from installments.plans import plan_commit
    from installments.quotes import quote_create
    from merchants.services import api_key_create, merchant_create

    shops = []
    now = timezone.now()
    basket = Basket(amount=BASKET["amount"], channel=BASKET["channel"])
    for number in range(count):
        merchant = merchant_create(name=f"Load shop {number}")
        shop = Shop(merchant.name, api_key_create(merchant=merchant, mode="live").raw_key)
        campaign = Campaign.objects.create(
            merchant=merchant,
            name=f"Phones free {number}",
            status="approved",
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
            budget_total=10**12,
        )
        Offer.objects.create(
            campaign=campaign, merchant=merchant, term=TERM, merchant_share_bp=10_000
        )
        match = offers_match(merchant=merchant, basket=basket).for_term(TERM)
        shop.subsidy = match.price.merchant_subsidy
        if number % 2:  # half the shops: a budget for 25 more plans, spent during the run
            Campaign.objects.filter(pk=campaign.pk).update(
                budget_total=shop.subsidy * (plans_each + 25) + shop.subsidy // 2
            )
            shop.campaign_id = campaign.pk
        for index in range(plans_each):
            quote = quote_create(merchant=merchant, test=False, currency="CNY", basket=basket)
            plan = plan_commit(
                merchant=merchant,
                test=False,
                quote_id=quote.quote_id,
                term=TERM,
                merchant_order_ref=f"seed-{number}-{index}",
            )
            shop.plans.append(str(plan.pk))
        shops.append(shop)
    return shops


# --------------------------------------------------------------------------------------------------
# Requests


def _get(port: int, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n\r\n"
    ).encode()


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    answers: Counter[str] = field(default_factory=Counter)  # "kind status code"
    unexpected: Counter[str] = field(default_factory=Counter)
    five_xx: int = 0
    dropped: int = 0
    operations: int = 0
    requests: int = 0


class Load:
    """One operation of the mix at a time per caller; shops and plans are shared, and a plan is
    taken out of the pool while a refund or a void of it is in flight (one event loop: no locks)."""

    def __init__(self, port: int, shops: list[Shop], stats: Counter[str], seed: int) -> None:
        self.port = port
        self.shops = shops
        self.stats = stats
        self.random = random.Random(seed)
        self.kinds = [kind for kind, weight in MIX for _ in range(weight)]
        self.serial = 0

    async def _send(
        self, tally: Tally, pool: Pool, kind: str, payload: bytes, due: float
    ) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        status, body = await pool.request(payload)
        tally.requests += 1
        tally.latencies[kind].append(loop.time() - due)
        code = ""
        if (status and status not in EXPECTED[kind]) or status == 409:
            try:
                code = json.loads(body).get("code", "") if body else ""
            except ValueError:
                code = "not JSON"
        tally.answers[f"{kind} {status} {code}".strip()] += 1
        if status == 0:
            tally.dropped += 1
        elif status >= 500:
            tally.five_xx += 1
        if status not in EXPECTED[kind] or (status == 409 and code != "offer_changed"):
            tally.unexpected[f"{kind} {status} {code}".strip()] += 1
        return status, body

    async def operation(self, tally: Tally, pool: Pool, due: float) -> None:
        kind = self.random.choice(self.kinds)
        shop = self.random.choice(self.shops)
        auth = {"Authorization": f"Bearer {shop.key}"}
        tally.operations += 1
        self.serial += 1
        if kind in ("quote", "checkout"):
            status, body = await self._send(
                tally, pool, "quote", http_request(self.port, "/api/v1/quotes", BASKET, auth), due
            )
            if kind == "quote" or status != 200:
                return
            commit = {
                "quote_id": json.loads(body)["quote_id"],
                "term": TERM,
                "merchant_order_ref": f"load-{self.serial}-{uuid.uuid4().hex[:8]}",
            }
            headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            status, body = await self._send(
                tally,
                pool,
                "commit",
                http_request(self.port, "/api/v1/plans", commit, headers),
                due,
            )
            if status == 201:
                shop.plans.append(json.loads(body)["id"])
        elif kind == "lookup":
            if shop.plans and self.random.random() < 0.75:
                plan = self.random.choice(shop.plans)
                await self._send(
                    tally, pool, "plan", _get(self.port, f"/api/v1/plans/{plan}", shop.key), due
                )
            else:
                await self._send(
                    tally,
                    pool,
                    "plans",
                    _get(self.port, "/api/v1/plans?page_size=20", shop.key),
                    due,
                )
        elif kind == "refund":
            candidates = [p for p in shop.plans if shop.refunded.get(p, 0) < 2 * REFUND]
            if not candidates:
                return
            plan = self.random.choice(candidates)
            shop.plans.remove(plan)
            body = {"amount": REFUND, "refund_ref": f"rf-{self.serial}-{uuid.uuid4().hex[:8]}"}
            headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            status, _ = await self._send(
                tally,
                pool,
                "refund",
                http_request(self.port, f"/api/v1/plans/{plan}/refunds", body, headers),
                due,
            )
            if status == 201:
                shop.refunded[plan] = shop.refunded.get(plan, 0) + REFUND
            shop.plans.append(plan)
        elif kind == "void":
            candidates = [p for p in shop.plans if p not in shop.refunded]
            if not candidates:
                return
            plan = self.random.choice(candidates)
            shop.plans.remove(plan)  # a voided plan is neither refunded nor voided again
            headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            payload = (
                f"POST /api/v1/plans/{plan}/void HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                + "Content-Length: 0\r\n\r\n"
            ).encode()
            await self._send(tally, pool, "void", payload, due)


async def closed_loop(
    load: Load, *, clients: int, seconds: float, warmup: float
) -> tuple[Tally, float]:
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + warmup
    until = measure_from + seconds
    tally, ignored = Tally(), Tally()

    async def client() -> None:
        pool = Pool(load.port, load.stats)
        while (now := loop.time()) < until:
            await load.operation(tally if now >= measure_from else ignored, pool, now)
        pool.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return tally, seconds


async def open_loop(
    load: Load, *, rate: float, seconds: float, connections: int
) -> tuple[Tally, float]:
    loop = asyncio.get_running_loop()
    tally = Tally()
    start = loop.time() + 0.05
    schedule = iter(range(int(rate * seconds)))

    async def connection_user() -> None:
        pool = Pool(load.port, load.stats)
        for i in schedule:
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await load.operation(tally, pool, due)
        pool.close()

    await asyncio.gather(*(connection_user() for _ in range(connections)))
    return tally, loop.time() - start


# --------------------------------------------------------------------------------------------------
# Report


def _print_tally(title: str, tally: Tally, seconds: float) -> None:
    print(
        f"{title}: {tally.operations / seconds:.1f} operations/s, {tally.requests / seconds:.1f}"
        f" requests/s over {seconds:.1f} s ({tally.operations:,} operations,"
        f" {tally.requests:,} requests)"
    )
    every = [x for values in tally.latencies.values() for x in values]
    print(f"  {'request':<8} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for kind in ("quote", "commit", "plan", "plans", "refund", "void"):
        values = tally.latencies.get(kind, [])
        if values:
            print(
                f"  {kind:<8} {len(values):>7,} {_percentile_ms(values, 0.5):>8.1f}"
                f" {_percentile_ms(values, 0.99):>8.1f}"
            )
    print(
        f"  {'all':<8} {len(every):>7,} {_percentile_ms(every, 0.5):>8.1f}"
        f" {_percentile_ms(every, 0.99):>8.1f}"
    )
    answers = ", ".join(f"{name}: {n:,}" for name, n in sorted(tally.answers.items()))
    print(f"  answers: {answers}")
    print(
        f"  errors: 5xx {tally.five_xx}, dropped connections {tally.dropped},"
        f" unexpected {dict(tally.unexpected) or 'none'}"
    )


def _books() -> tuple[bool, str, list[tuple]]:
    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command("reconcile", stdout=out)
        ok = True
    except SystemExit as exc:
        ok = exc.code in (0, None)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, budget_used, budget_total FROM campaigns_campaign"
            " WHERE budget_used > budget_total"
        )
        overspent = cursor.fetchall()
    return ok, out.getvalue().strip(), overspent


def _logged_errors(log: Path) -> list[str]:
    errors = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") in ("ERROR", "CRITICAL"):
                errors.append(record.get("message", "")[:200])
        elif "Traceback" in line:
            errors.append(line[:200])
    return errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the paced run")
    parser.add_argument("--fraction", type=float, default=0.8, help="of the saturating rate")
    parser.add_argument("--rate", type=float, help="operations/s of the paced run (skip step 1)")
    parser.add_argument("--find-for", type=float, default=20.0, help="seconds of the closed loop")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument("--connections", type=int, default=32, help="open-loop connections")
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--plans", type=int, default=10, help="plans made per shop beforehand")
    parser.add_argument("--others", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    from django.conf import settings
    from django.test.utils import get_runner, setup_test_environment

    began = time.perf_counter()
    load_average = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    redis_server = PrivateRedis()
    web = None
    stats: Counter[str] = Counter()
    results: dict[str, bool] = {}
    try:
        if args.others:
            _add_other_merchants(args.others)
        shops = _shops(args.merchants, args.plans)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        redis_server.start()
        folder = Path(tempfile.mkdtemp(prefix="load-checkout-"))
        product = Product(
            postgres=None, redis=redis_server, folder=folder, database_url=_server_database_url()
        )
        web = product.web(workers=2, threads=4)
        setup = time.perf_counter() - began
        print(
            f"checkout API under gunicorn (gunicorn.conf.py: 2 gthread workers × 4 threads,"
            f" config.settings.production, Redis cache and broker), {args.merchants} shops,"
            f" {args.others:,} other merchants' campaigns; {load_average} at start;"
            f" setup {setup:.0f} s"
        )
        load = Load(web.port, shops, stats, args.seed)
        asyncio.run(closed_loop(load, clients=8, seconds=3, warmup=0))  # warm every worker
        rate = args.rate
        if rate is None:
            tally, seconds = asyncio.run(
                closed_loop(load, clients=args.concurrency, seconds=args.find_for, warmup=1)
            )
            _print_tally(f"saturating ({args.concurrency} clients, closed loop)", tally, seconds)
            saturating = tally.operations / seconds
            rate = args.fraction * saturating
            print(f"paced run at {args.fraction:.0%} of {saturating:.1f} = {rate:.1f} operations/s")
        tally, seconds = asyncio.run(
            open_loop(load, rate=rate, seconds=args.duration, connections=args.connections)
        )
        _print_tally(f"paced ({args.connections} connections, open loop)", tally, seconds)
        web.stop()
        errors = _logged_errors(web.log)
        # Every operation due is sent; a server that falls behind stretches the run instead.
        kept = tally.operations / seconds / rate
        results[f"kept the rate: {kept:.1%} of {rate:.1f} operations/s (>= 95 %)"] = kept >= 0.95
        results[f"no 5xx ({tally.five_xx})"] = tally.five_xx == 0
        results[f"no dropped connection ({tally.dropped + stats['connection errors']})"] = (
            tally.dropped + stats["connection errors"] == 0
        )
        results[
            f"only expected answers ({sum(tally.unexpected.values())} others)"
        ] = not tally.unexpected
        results[f"nothing logged as an error by the server ({len(errors)})"] = not errors
        for line in errors[:10]:
            print(f"  logged: {line}")
        if not errors:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"  the server's log: {web.log}")
        ok, report, overspent = _books()
        print(f"reconcile: {report}")
        results["reconcile passes"] = ok
        results[f"no budget overspent ({len(overspent)})"] = not overspent
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE status = 'voided'), count(*),"
                " (SELECT count(*) FROM installments_refund) FROM installments_plan"
            )
            voided, plans, refunds = cursor.fetchone()
        from campaigns.models import Campaign

        small = [shop for shop in shops if shop.campaign_id]
        left = {
            c.pk: c.budget_total - c.budget_used
            for c in Campaign.objects.filter(pk__in=[shop.campaign_id for shop in small])
        }
        spent = sum(1 for shop in small if left[shop.campaign_id] < shop.subsidy)
        print(
            f"database: {plans:,} plans ({voided:,} voided), {refunds:,} refunds;"
            f" {spent} of the {len(small)} small budgets spent to their last plan"
        )
    finally:
        if web is not None:
            web.stop()
        redis_server.close()
        runner.teardown_databases(old_config)
    for name, good in results.items():
        print(f"  {'met   ' if good else 'MISSED'} {name}")
    print(f"took {time.perf_counter() - began:.0f} s")
    return 0 if all(results.values()) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
