"""``manage.py plan_calc --input`` on 500 generated cases, checked against the independent reference
of the property tests, with invalid lines answered in place while the rest go on."""

import json
import random
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from installments.calculator import Rounding
from tests.installments.test_calculator_properties import (
    Inputs,
    ref_apr_is_consistent,
    ref_price,
)

INVALID = [
    '{"term": 12, "consumer_rate": "0.075", "merchant_rate": "0.075", "share_bp": 0, "purchase_date": "2026-11-11"}',
    '{"principal": 599900, "term": 12, "consumer_rate": 0.075, "merchant_rate": "0.075", "share_bp": 0, "purchase_date": "2026-11-11"}',
    '{"principal": 599900, "term": 12, "consumer_rate": "0.075", "merchant_rate": "0.075", "share_bp": 10001, "purchase_date": "2026-11-11"}',
    '{"principal": 599900, "term": 12, "consumer_rate": "0.075", "merchant_rate": "0.075", "share_bp": 0, "eligible": 599901, "purchase_date": "2026-11-11"}',
    '{"principal": 599900, "term": 12, "consumer_rate": "0.075", "merchant_rate": "0.075", "share_bp": 0, "refunded": 599901, "purchase_date": "2026-11-11"}',
    '{"principal": 599900, "term": 12, "consumer_rate": "0.075", "merchant_rate": "0.075", "share_bp": 0, "due_day": 29, "purchase_date": "2026-11-11"}',
    "this is not json",
]


def _cases(count: int, seed: int = 20261129) -> list[Inputs]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        principal = rng.choice([rng.randint(1, 100), rng.randint(10_000, 30_000_000)])
        cases.append(
            Inputs(
                principal=principal,
                term=rng.choice([3, 6, 12, rng.randint(2, 36)]),
                consumer_rate=Decimal(rng.randint(0, 150_000)) / 1_000_000,
                merchant_rate=Decimal(rng.randint(0, 150_000)) / 1_000_000,
                share_bp=rng.choice([0, 5000, 10000, rng.randint(0, 10000)]),
                eligible=rng.choice([principal, rng.randint(0, principal)]),
                purchase_date=date(2026, 1, 1) + timedelta(days=rng.randint(0, 730)),
                statement_day=rng.randint(1, 28),
                due_day=rng.randint(1, 28),
                rounding=rng.choice(list(Rounding)),
            )
        )
    return cases


def _line(case: Inputs) -> str:
    return json.dumps(
        {
            "principal": case.principal,
            "term": case.term,
            "consumer_rate": str(case.consumer_rate),
            "merchant_rate": str(case.merchant_rate),
            "share_bp": case.share_bp,
            "eligible": case.eligible,
            "purchase_date": case.purchase_date.isoformat(),
            "statement_day": case.statement_day,
            "due_day": case.due_day,
            "rounding": case.rounding.value,
        }
    )


def test_500_cases_agree_with_the_reference(tmp_path):
    cases = _cases(500)
    lines = [_line(c) for c in cases]
    # Invalid lines scattered through the file.
    positions = {37 * (i + 1): bad for i, bad in enumerate(INVALID)}
    for position in sorted(positions):
        lines.insert(position, positions[position])
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n")

    proc = subprocess.run(
        [sys.executable, "manage.py", "plan_calc", "--input", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(lines)
    valid = iter(cases)
    for index, answer in enumerate(answers):
        if index in positions:
            assert set(answer) == {"error"}, answer
            continue
        case = next(valid)
        ref = ref_price(case, case.principal, case.eligible)
        assert (
            answer["consumer_fee_full"],
            answer["waived_fee"],
            answer["consumer_fee"],
            answer["merchant_subsidy"],
        ) == (ref.F, ref.W, ref.C, ref.M)
        schedule = answer["schedule"]
        assert [p["principal"] for p in schedule] == ref.principals
        assert [p["fee"] for p in schedule] == ref.fees
        assert [p["due_date"] for p in schedule] == [d.isoformat() for d in ref.dates]
        assert all(p["amount"] == p["principal"] + p["fee"] for p in schedule)
        amounts = [p["amount"] for p in schedule]
        assert ref_apr_is_consistent(case.principal, amounts, answer["apr"])


def test_one_case_by_flags_is_the_first_worked_example():
    out = StringIO()
    call_command(
        "plan_calc",
        "--principal=599900",
        "--term=12",
        "--consumer-rate=0.075",
        "--merchant-rate=0.075",
        "--share-bp=0",
        "--purchase-date=2026-11-11",
        stdout=out,
    )
    answer = json.loads(out.getvalue())
    assert (answer["consumer_fee"], answer["apr"]) == (44993, "13.57")
    assert answer["schedule"][0] == {
        "period": 1,
        "due_date": "2026-12-10",
        "principal": 49999,
        "fee": 3754,
        "amount": 53753,
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--principal=abc", "--term=12"],
        ["--term=12"],
        ["--input=/no/such/file.jsonl"],
    ],
)
def test_bad_flags_fail_with_one_line(args):
    with pytest.raises(CommandError) as exc:
        call_command("plan_calc", *args, stdout=StringIO())
    assert "\n" not in str(exc.value)
