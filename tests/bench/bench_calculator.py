"""Benchmark of the plan calculator on one core (not a pytest module).

    python tests/bench/bench_calculator.py [--plans N] [--repeat R] [--check]

Prices N 12-term plans with varied principals, shares and eligible amounts, without and with the APR,
and times ``run_lines`` on a 500-case JSON-lines file. Targets (DESIGN acceptance): at least 20,000
plans/second without the APR and 2,000 with it. ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from installments.calculator import Rounding, price_plan, run_lines

TARGET_WITHOUT_APR = 20_000
TARGET_WITH_APR = 2_000
RATE = Decimal("0.075")


def _pin_to_one_core() -> str:
    # The figures are per core: keep the scheduler from spreading the run (Linux only).
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned"


def _inputs(count: int, seed: int) -> list[tuple[int, int, int, date]]:
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    cases = []
    for _ in range(count):
        principal = rng.randint(10_000, 30_000_000)  # 100.00 .. 300,000.00
        share = rng.choice((0, 5000, 10000, rng.randint(0, 10000)))
        eligible = rng.choice((principal, rng.randint(0, principal)))
        cases.append((principal, share, eligible, start + timedelta(days=rng.randint(0, 364))))
    return cases


def _rate(run: Callable[[], None], count: int, repeat: int) -> float:
    best = min(_timed(run) for _ in range(repeat))
    return count / best


def _timed(run: Callable[[], None]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def _price_all(cases: list[tuple[int, int, int, date]], with_apr: bool) -> Callable[[], None]:
    def run() -> None:
        for principal, share, eligible, purchase in cases:
            price_plan(
                principal=principal,
                term=12,
                consumer_rate=RATE,
                merchant_rate=RATE,
                share_bp=share,
                eligible=eligible,
                purchase_date=purchase,
                rounding=Rounding.HALF_UP,
                with_apr=with_apr,
            )

    return run


def _case_file(directory: str) -> Path:
    rng = random.Random(500)
    path = Path(directory) / "cases.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for principal, share, eligible, purchase in _inputs(500, seed=7):
            case: dict[str, object] = {
                "principal": principal,
                "term": rng.choice((3, 6, 12, 24, 36)),
                "consumer_rate": "0.075",
                "merchant_rate": "0.045",
                "share_bp": share,
                "eligible": eligible,
                "purchase_date": purchase.isoformat(),
                "rounding": rng.choice(("half_up", "half_even")),
            }
            if rng.random() < 0.2:
                case["refunded"] = rng.randint(0, principal)
            out.write(json.dumps(case) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=20_000, help="plans per timed run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best one counts")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {_pin_to_one_core()}")
    cases = _inputs(options.plans, seed=12)
    _price_all(cases[:1000], with_apr=True)()  # warm-up

    without_apr = _rate(_price_all(cases, with_apr=False), len(cases), options.repeat)
    apr_cases = cases[: max(len(cases) // 4, 1)]
    with_apr = _rate(_price_all(apr_cases, with_apr=True), len(apr_cases), options.repeat)
    # Free plans skip the IRR ("0.00"); the worst case is no campaign, where every plan solves it.
    paid_cases = [(principal, 0, eligible, day) for principal, _, eligible, day in apr_cases]
    with_irr = _rate(_price_all(paid_cases, with_apr=True), len(paid_cases), options.repeat)

    with tempfile.TemporaryDirectory() as directory:
        path = _case_file(directory)

        def answer_file() -> None:
            with path.open(encoding="utf-8") as lines:
                answers = list(run_lines(lines))
            assert len(answers) == 500 and not any('"error"' in a for a in answers)

        file_seconds = min(_timed(answer_file) for _ in range(options.repeat))

    ok_without = without_apr >= TARGET_WITHOUT_APR
    ok_with = min(with_apr, with_irr) >= TARGET_WITH_APR
    print(
        f"12-term plans without APR: {without_apr:>10,.0f} plans/s "
        f"(target {TARGET_WITHOUT_APR:,}: {'ok' if ok_without else 'MISSED'})"
    )
    print(f"12-term plans with APR:    {with_apr:>10,.0f} plans/s (mixed shares, some free)")
    print(
        f"  ... every plan paid (IRR): {with_irr:>8,.0f} plans/s "
        f"(target {TARGET_WITH_APR:,}: {'ok' if ok_with else 'MISSED'})"
    )
    print(
        f"run_lines, 500 cases (terms 3-36, 20 % refunded): {file_seconds * 1000:.1f} ms "
        f"({500 / file_seconds:,.0f} cases/s)"
    )
    return 0 if (ok_without and ok_with) or not options.check else 1


if __name__ == "__main__":
    sys.exit(main())
