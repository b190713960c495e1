"""The plan calculator against DESIGN.md §3: every worked example, edge cases and bad input."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from installments.calculator import (
    CalculationError,
    Installment,
    PlanLine,
    PlanPrice,
    RefundResult,
    Rounding,
    annual_percentage_rate,
    due_dates,
    eligible_amount,
    plan_to_dict,
    price_plan,
    reprice_after_refund,
    reprice_after_refunds_without_lines,
    returned_lines_apply,
    round_money,
    run_case,
    run_lines,
    split_evenly,
)

# fmt: off
# case, P, n, rc, rm, s, E (None = P), purchase, R, F, W, C, M, period 1, periods 2..n, first due, APR
WORKED_EXAMPLES = [
    ("phone, fully free", 599900, 12, ".075", ".075", 10000, None, "2026-11-11", "half_up",
     44993, 44993, 0, 44993, (49999, 0), (49991, 0), "2026-12-10", "0.00"),
    ("same, no campaign", 599900, 12, ".075", ".075", 0, None, "2026-11-11", "half_up",
     44993, 0, 44993, 0, (49999, 3754), (49991, 3749), "2026-12-10", "13.57"),
    ("3 terms free, merchant rate", 100000, 3, ".023", ".018", 10000, None, "2026-11-01", "half_up",
     2300, 2300, 0, 1800, (33334, 0), (33333, 0), "2026-12-10", "0.00"),
    ("remainders to period 1", 111111, 12, ".075", ".075", 0, None, "2026-01-31", "half_up",
     8333, 0, 8333, 0, (9262, 699), (9259, 694), "2026-02-10", "13.57"),
    ("half-cent, mixed basket, half share", 699900, 12, ".075", ".075", 5000, 500000, "2026-11-30",
     "half_up", 52493, 18750, 33743, 18750, (58325, 2822), (58325, 2811), "2026-12-10", "8.78"),
    ("no campaign, half-even mode", 699900, 12, ".075", ".075", 0, None, "2026-11-30", "half_even",
     52492, 0, 52492, 0, (58325, 4378), (58325, 4374), "2026-12-10", "13.57"),
    ("W from the rounded F", 10007, 12, ".075", ".075", 5000, None, "2026-11-30", "half_up",
     751, 376, 375, 375, (844, 34), (833, 31), "2026-12-10", "6.85"),
]
# fmt: on


def _plan(**overrides: object) -> PlanPrice:
    arguments: dict[str, object] = {
        "principal": 599900,
        "term": 12,
        "consumer_rate": Decimal("0.075"),
        "merchant_rate": Decimal("0.075"),
        "share_bp": 10000,
        "purchase_date": date(2026, 11, 11),
    }
    arguments.update(overrides)
    return price_plan(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "case,P,n,rc,rm,s,E,purchase,R,F,W,C,M,first,rest,first_due,apr",
    WORKED_EXAMPLES,
    ids=[row[0] for row in WORKED_EXAMPLES],
)
def test_worked_examples_of_the_design(
    case: str,
    P: int,
    n: int,
    rc: str,
    rm: str,
    s: int,
    E: int | None,
    purchase: str,
    R: str,
    F: int,
    W: int,
    C: int,
    M: int,
    first: tuple[int, int],
    rest: tuple[int, int],
    first_due: str,
    apr: str,
) -> None:
    plan = price_plan(
        principal=P,
        term=n,
        consumer_rate=Decimal(rc),
        merchant_rate=Decimal(rm),
        share_bp=s,
        eligible=E,
        purchase_date=date.fromisoformat(purchase),
        rounding=Rounding(R),
    )
    assert (plan.consumer_fee_full, plan.waived_fee, plan.consumer_fee, plan.merchant_subsidy) == (
        F,
        W,
        C,
        M,
    )
    assert plan.principal == P
    assert plan.eligible == (P if E is None else E)
    assert plan.term == n == len(plan.schedule)
    assert [i.period for i in plan.schedule] == list(range(1, n + 1))
    assert (plan.schedule[0].principal, plan.schedule[0].fee) == first
    assert {(i.principal, i.fee) for i in plan.schedule[1:]} == {rest}
    assert plan.schedule[0].amount == sum(first)
    assert plan.schedule[0].due_date == date.fromisoformat(first_due)
    assert plan.apr == apr
    assert plan.interest_free is (C == 0)
    assert plan.total_payable == P + C
    assert sum(i.principal for i in plan.schedule) == P
    assert sum(i.fee for i in plan.schedule) == C


@pytest.mark.parametrize("row", WORKED_EXAMPLES, ids=[row[0] for row in WORKED_EXAMPLES])
def test_worked_examples_through_run_case(row: tuple) -> None:
    (_, P, n, rc, rm, s, E, purchase, R, F, W, C, M, first, rest, first_due, apr) = row
    case = {
        "principal": P,
        "term": n,
        "consumer_rate": rc,
        "merchant_rate": rm,
        "share_bp": s,
        "purchase_date": purchase,
        "rounding": R,
    }
    if E is not None:
        case["eligible"] = E
    answer = run_case(case)
    assert answer["consumer_fee_full"] == F
    assert answer["waived_fee"] == W
    assert answer["consumer_fee"] == C
    assert answer["merchant_subsidy"] == M
    assert answer["apr"] == apr
    schedule = answer["schedule"]
    assert isinstance(schedule, list)
    assert schedule[0] == {
        "period": 1,
        "due_date": first_due,
        "principal": first[0],
        "fee": first[1],
        "amount": sum(first),
    }
    assert all((p["principal"], p["fee"], p["amount"]) == (*rest, sum(rest)) for p in schedule[1:])


def test_worked_example_of_a_refund() -> None:
    phone = _plan()
    result = reprice_after_refund(
        current=phone,
        refund_amount=199900,
        order_amount_after=599900,
        in_scope_after=599900,
        consumer_rate=Decimal("0.075"),
        merchant_rate=Decimal("0.075"),
        share_bp=10000,
        purchase_date=date(2026, 11, 11),
        statement_day=1,
        due_day=10,
        rounding=Rounding.HALF_UP,
    )
    plan = result.plan
    assert plan.principal == 400000
    assert plan.eligible == 400000
    assert (plan.consumer_fee_full, plan.waived_fee, plan.consumer_fee) == (30000, 30000, 0)
    assert plan.merchant_subsidy == 30000
    assert result.subsidy_reversed == 14993
    assert [i.principal for i in plan.schedule] == [33337] + [33333] * 11
    assert [i.fee for i in plan.schedule] == [0] * 12
    assert plan.apr == "0.00"
    assert [i.due_date for i in plan.schedule] == [i.due_date for i in phone.schedule]


def test_worked_example_of_a_refund_through_plan_calc() -> None:
    answer = run_case(
        {
            "principal": 599900,
            "term": 12,
            "consumer_rate": "0.075",
            "merchant_rate": "0.075",
            "share_bp": 10000,
            "purchase_date": "2026-11-11",
            "refunded": 199900,
        }
    )
    assert answer["principal"] == 400000
    assert answer["consumer_fee_full"] == 30000
    assert answer["waived_fee"] == 30000
    assert answer["consumer_fee"] == 0
    assert answer["merchant_subsidy"] == 30000
    assert answer["subsidy_reversed"] == 14993
    assert answer["refunded"] == 199900
    assert [p["amount"] for p in answer["schedule"]] == [33337] + [33333] * 11  # type: ignore[union-attr]


# --- rounding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "half_up", "half_even"),
    [
        (Fraction(5, 2), 3, 2),
        (Fraction(7, 2), 4, 4),
        (Fraction(-5, 2), -3, -2),
        (Fraction(-7, 2), -4, -4),
        (Fraction(1, 3), 0, 0),
        (Fraction(2, 3), 1, 1),
        (Fraction(-2, 3), -1, -1),
        (Fraction(0), 0, 0),
        (Fraction(1, 2), 1, 0),
        (Fraction(-1, 2), -1, 0),
    ],
)
def test_round_money_is_exact_and_symmetric(value: Fraction, half_up: int, half_even: int) -> None:
    assert round_money(value, Rounding.HALF_UP) == half_up
    assert round_money(value, Rounding.HALF_EVEN) == half_even


def test_rounding_accepts_its_string_values_and_refuses_others() -> None:
    assert round_money(Fraction(5, 2), "half_even") == 2  # type: ignore[arg-type]
    with pytest.raises(CalculationError, match="rounding"):
        round_money(Fraction(5, 2), "half_down")  # type: ignore[arg-type]


# --- splitting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "parts", "expected"),
    [
        (599900, 12, [49999] + [49991] * 11),
        (100000, 3, [33334, 33333, 33333]),
        (12, 12, [1] * 12),
        (5, 12, [5] + [0] * 11),
        (0, 3, [0, 0, 0]),
        (11, 12, [11] + [0] * 11),
        (7, 1, [7]),
    ],
)
def test_split_evenly_gives_period_one_the_rest(
    total: int, parts: int, expected: list[int]
) -> None:
    assert split_evenly(total, parts) == expected
    assert sum(expected) == total


def test_a_principal_below_the_term_leaves_later_periods_at_zero() -> None:
    plan = _plan(principal=7, term=12, share_bp=0, consumer_rate=Decimal("0.5"))
    assert [i.principal for i in plan.schedule] == [7] + [0] * 11
    assert plan.consumer_fee == 4  # 3.5 rounded half-up
    assert [i.fee for i in plan.schedule] == [4] + [0] * 11
    assert plan.apr == "685.71"  # all of it due in one month: r = 4/7, 12 r = 685.714… %


# --- due dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purchase", "first_due"),
    [
        (date(2026, 11, 11), date(2026, 12, 10)),
        (date(2026, 11, 1), date(2026, 12, 10)),
        (date(2026, 11, 30), date(2026, 12, 10)),
        (date(2026, 1, 31), date(2026, 2, 10)),
        (date(2026, 1, 1), date(2026, 2, 10)),
        (date(2025, 12, 31), date(2026, 1, 10)),
        (date(2024, 2, 29), date(2024, 3, 10)),
    ],
)
def test_first_due_date_with_default_days(purchase: date, first_due: date) -> None:
    dates = due_dates(purchase_date=purchase, term=3, statement_day=1, due_day=10)
    assert dates[0] == first_due


def test_a_purchase_on_the_first_is_first_due_forty_days_later_the_longest() -> None:
    dates = due_dates(purchase_date=date(2026, 1, 1), term=1, statement_day=1, due_day=10)
    assert dates[0] - date(2026, 1, 1) == timedelta(days=40)
    # No purchase date of a whole leap cycle waits longer.
    day, longest = date(2024, 1, 1), timedelta(0)
    while day < date(2028, 1, 1):
        gap = due_dates(purchase_date=day, term=1, statement_day=1, due_day=10)[0] - day
        longest = max(longest, gap)
        day += timedelta(days=1)
    assert longest == timedelta(days=40)


def test_due_dates_follow_monthly_across_the_year_end() -> None:
    dates = due_dates(purchase_date=date(2026, 11, 11), term=4, statement_day=1, due_day=10)
    assert dates == [date(2026, 12, 10), date(2027, 1, 10), date(2027, 2, 10), date(2027, 3, 10)]


@pytest.mark.parametrize(
    ("purchase", "statement_day", "due_day", "expected"),
    [
        # Due day before the statement day: due the month after the statement.
        (date(2026, 3, 5), 20, 5, [date(2026, 4, 5), date(2026, 5, 5)]),
        # Purchase on the statement day itself: the statement is the next month's ("strictly after").
        (date(2026, 3, 20), 20, 5, [date(2026, 5, 5), date(2026, 6, 5)]),
        # Equal days: due one month after each statement.
        (date(2026, 3, 5), 15, 15, [date(2026, 4, 15), date(2026, 5, 15)]),
        # Due later in the month than the statement: the same month.
        (date(2026, 3, 5), 15, 28, [date(2026, 3, 28), date(2026, 4, 28)]),
        (date(2026, 12, 28), 28, 1, [date(2027, 2, 1), date(2027, 3, 1)]),
    ],
)
def test_due_dates_with_other_days(
    purchase: date, statement_day: int, due_day: int, expected: list[date]
) -> None:
    assert (
        due_dates(purchase_date=purchase, term=2, statement_day=statement_day, due_day=due_day)
        == expected
    )


def test_due_dates_past_year_9999_are_refused() -> None:
    with pytest.raises(CalculationError, match="purchase_date"):
        due_dates(purchase_date=date(9999, 6, 1), term=12, statement_day=1, due_day=10)


# --- APR ------------------------------------------------------------------------------------------


def test_apr_is_zero_when_nothing_is_charged() -> None:
    assert annual_percentage_rate(principal=1000, amounts=[500, 500]) == "0.00"


def test_apr_of_one_period() -> None:
    # r = 10 %: 12 r = 120.00 %.
    assert annual_percentage_rate(principal=1000, amounts=[1100]) == "120.00"


def test_apr_settles_an_exact_tie_half_up() -> None:
    # r = 201/240000 exactly, so 12 r = 1.005 %: an exact tie that half-up takes to 1.01.
    assert annual_percentage_rate(principal=240000, amounts=[240201]) == "1.01"
    assert annual_percentage_rate(principal=240000, amounts=[240200]) == "1.00"
    # Two periods with a rational root: P = 1 000 000, r = 1/120 (APR 10.00 %) exactly.
    # A_1 = A_2 = a with a (v + v^2) = P, v = 120/121 → a = P 121^2 / (120 × 241).
    assert annual_percentage_rate(principal=120 * 241, amounts=[121 * 121, 121 * 121]) == "10.00"
    # Two periods and an exact tie: r = 2401/240000, 12 r = 12.005 %. With 1 + r = N/D,
    # A_1 = A_2 = N^2 gives P = D (N + D).
    n, d = 242401, 240000
    assert annual_percentage_rate(principal=d * (n + d), amounts=[n * n, n * n]) == "12.01"
    assert annual_percentage_rate(principal=d * (n + d) + 1, amounts=[n * n, n * n]) == "12.00"


def test_apr_may_round_to_zero_for_a_tiny_fee() -> None:
    # One fen on 300,000.00 is a real but negligible cost; the rule rounds it to 0.00 (the
    # disclosure is "0.00" when C = 0, and also when the rate is below 0.005 %).
    assert annual_percentage_rate(principal=30_000_000, amounts=[15_000_001, 15_000_000]) == "0.00"


@pytest.mark.parametrize(
    ("principal", "amounts", "match"),
    [
        (0, [1], "principal"),
        (1000, [], "amounts"),
        (1000, [400, 500], "at least the principal"),
        (1000, [-1, 1200], "amounts"),
        (1000, [True, 1200], "amounts"),
    ],
)
def test_apr_refuses_bad_input(principal: int, amounts: list[int], match: str) -> None:
    with pytest.raises(CalculationError, match=match):
        annual_percentage_rate(principal=principal, amounts=amounts)


def test_apr_can_be_skipped() -> None:
    assert _plan(share_bp=0, with_apr=False).apr is None


# --- eligible amount ------------------------------------------------------------------------------


def test_eligible_amount_spreads_the_government_subsidy_pro_rata() -> None:
    # A = 800000, G = 100000 → P = 700000; lines in scope 500000 → E = 500000 × 7/8.
    assert (
        eligible_amount(
            in_scope_total=500000, principal=700000, order_amount=800000, rounding=Rounding.HALF_UP
        )
        == 437500
    )
    # 1 × 1 / 2 is an exact half.
    assert eligible_amount(in_scope_total=1, principal=1, order_amount=2, rounding="half_up") == 1  # type: ignore[arg-type]
    assert eligible_amount(in_scope_total=1, principal=1, order_amount=2, rounding="half_even") == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("in_scope_total", "principal", "order_amount", "field"),
    [
        (-1, 100, 100, "in_scope_total"),
        (101, 100, 100, "in_scope_total"),
        (50, 0, 100, "principal"),
        (50, 101, 100, "principal"),
        (0, 1, 0, "order_amount"),
    ],
)
def test_eligible_amount_refuses_bad_input(
    in_scope_total: int, principal: int, order_amount: int, field: str
) -> None:
    with pytest.raises(CalculationError) as error:
        eligible_amount(
            in_scope_total=in_scope_total,
            principal=principal,
            order_amount=order_amount,
            rounding=Rounding.HALF_UP,
        )
    assert error.value.field == field


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"principal": 0}, "principal"),
        ({"principal": -5}, "principal"),
        ({"principal": 2**63}, "principal"),
        ({"principal": True}, "principal"),
        ({"principal": 1000.0}, "principal"),
        ({"principal": Decimal(1000)}, "principal"),
        ({"term": 0}, "term"),
        ({"term": 361}, "term"),
        ({"term": True}, "term"),
        ({"consumer_rate": Decimal("-0.01")}, "consumer_rate"),
        ({"consumer_rate": Decimal(1)}, "consumer_rate"),
        ({"consumer_rate": Decimal("0.0750001")}, "consumer_rate"),
        ({"consumer_rate": Decimal("NaN")}, "consumer_rate"),
        ({"consumer_rate": Decimal("Infinity")}, "consumer_rate"),
        ({"consumer_rate": 0.075}, "consumer_rate"),
        ({"consumer_rate": "0.075"}, "consumer_rate"),
        ({"merchant_rate": Decimal("1.5")}, "merchant_rate"),
        ({"share_bp": -1}, "share_bp"),
        ({"share_bp": 10001}, "share_bp"),
        ({"share_bp": False}, "share_bp"),
        ({"eligible": -1}, "eligible"),
        ({"eligible": 599901}, "eligible"),
        ({"eligible": True}, "eligible"),
        ({"statement_day": 0}, "statement_day"),
        ({"statement_day": 29}, "statement_day"),
        ({"due_day": 31}, "due_day"),
        ({"due_day": True}, "due_day"),
        ({"purchase_date": datetime(2026, 11, 11, 10, 0)}, "purchase_date"),
        ({"purchase_date": "2026-11-11"}, "purchase_date"),
        ({"rounding": "half_down"}, "rounding"),
    ],
)
def test_price_plan_refuses_bad_input(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(CalculationError) as error:
        _plan(**overrides)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}: ")
    assert isinstance(error.value, ValueError)


def test_trailing_zeros_beyond_six_places_are_not_extra_precision() -> None:
    assert _plan(consumer_rate=Decimal("0.07500000")) == _plan(consumer_rate=Decimal("0.075"))


def test_a_one_period_plan_is_accepted_mathematically() -> None:
    plan = _plan(term=1, share_bp=0)
    assert [(i.principal, i.fee) for i in plan.schedule] == [(599900, 44993)]


# --- refunds --------------------------------------------------------------------------------------


def _refund(
    current: PlanPrice, amount: int, *, order_after: int, in_scope_after: int, **kw: object
) -> RefundResult:
    arguments: dict[str, object] = {
        "consumer_rate": Decimal("0.075"),
        "merchant_rate": Decimal("0.075"),
        "share_bp": 10000,
        "purchase_date": date(2026, 11, 11),
        "statement_day": 1,
        "due_day": 10,
        "rounding": Rounding.HALF_UP,
    }
    arguments.update(kw)
    return reprice_after_refund(
        current=current,
        refund_amount=amount,
        order_amount_after=order_after,
        in_scope_after=in_scope_after,
        **arguments,  # type: ignore[arg-type]
    )


def test_a_full_refund_empties_the_plan() -> None:
    phone = _plan()
    result = _refund(phone, 599900, order_after=599900, in_scope_after=599900)
    assert result.plan == PlanPrice(0, 12, 0, 0, 0, 0, 0, "0.00", ())
    assert result.subsidy_reversed == 44993
    assert result.plan.interest_free
    assert result.plan.total_payable == 0


def test_a_refund_never_raises_the_consumer_fee() -> None:
    # Half share on a mixed basket: C0 = 33743. Returning every in-scope line drops E' to 0, which
    # would give C' = F' (the full fee): capped at C0, with the rest of F' waived.
    mixed = _plan(
        principal=699900, share_bp=5000, eligible=500000, purchase_date=date(2026, 11, 30)
    )
    assert mixed.consumer_fee == 33743
    result = _refund(
        mixed,
        100,
        order_after=199900,
        in_scope_after=0,
        share_bp=5000,
        purchase_date=date(2026, 11, 30),
    )
    plan = result.plan
    assert plan.eligible == 0
    assert plan.consumer_fee_full == 52485  # 699800 × 0.075 = 52485
    assert plan.consumer_fee == 33743
    assert plan.waived_fee == 52485 - 33743
    assert plan.merchant_subsidy == 0
    assert result.subsidy_reversed == 18750


def test_a_refund_naming_lines_drops_e_with_the_in_scope_total() -> None:
    # A basket of a 500000 phone (in scope) and a 199900 case (not): return the phone for 500000.
    mixed = _plan(
        principal=699900, share_bp=5000, eligible=500000, purchase_date=date(2026, 11, 30)
    )
    lines = [
        PlanLine("P70", "phones", 500000, True),
        PlanLine("CASE", "accessories", 199900, False),
    ]
    returned = returned_lines_apply(plan_lines=lines, refund_lines=[("P70", 500000)])
    assert (returned.order_amount_reduction, returned.in_scope_reduction) == (500000, 500000)
    result = _refund(
        mixed,
        500000,
        order_after=699900 - 500000,
        in_scope_after=500000 - 500000,
        share_bp=5000,
        purchase_date=date(2026, 11, 30),
    )
    assert result.plan.principal == 199900
    assert result.plan.eligible == 0
    assert result.plan.merchant_subsidy == 0
    assert result.subsidy_reversed == 18750
    assert result.plan.consumer_fee == 14993  # F' = 199900 × 0.075 = 14992.5 → 14993, below C0


def test_a_refund_when_every_line_is_returned_sets_e_to_zero() -> None:
    phone = _plan()
    result = _refund(phone, 100, order_after=0, in_scope_after=0)
    assert result.plan.principal == 599800
    assert result.plan.eligible == 0
    assert result.plan.consumer_fee == 0  # capped at the fee before: it was free
    assert result.plan.waived_fee == result.plan.consumer_fee_full


@pytest.mark.parametrize(
    ("amount", "order_after", "in_scope_after", "field"),
    [
        (0, 599900, 599900, "refund_amount"),
        (599901, 599900, 599900, "refund_amount"),
        (True, 599900, 599900, "refund_amount"),
        (100, -1, 0, "order_amount_after"),
        (100, 100, 101, "in_scope_after"),
    ],
)
def test_a_bad_refund_is_refused(
    amount: int, order_after: int, in_scope_after: int, field: str
) -> None:
    with pytest.raises(CalculationError) as error:
        _refund(_plan(), amount, order_after=order_after, in_scope_after=in_scope_after)
    assert error.value.field == field


def test_nothing_more_can_be_refunded_from_an_empty_plan() -> None:
    empty = _refund(_plan(), 599900, order_after=599900, in_scope_after=599900).plan
    with pytest.raises(CalculationError, match="refund_amount"):
        _refund(empty, 1, order_after=599900, in_scope_after=599900)


def test_refunded_zero_is_the_plan_as_priced() -> None:
    arguments = {
        "principal": 699900,
        "term": 12,
        "consumer_rate": Decimal("0.075"),
        "merchant_rate": Decimal("0.075"),
        "share_bp": 5000,
        "eligible": 500000,
        "purchase_date": date(2026, 11, 30),
    }
    result = reprice_after_refunds_without_lines(refunded=0, **arguments)  # type: ignore[arg-type]
    assert result.plan == price_plan(**arguments)  # type: ignore[arg-type]
    assert result.subsidy_reversed == 0


@pytest.mark.parametrize("refunded", [-1, 599901, True])
def test_refunded_out_of_range_is_refused(refunded: int) -> None:
    with pytest.raises(CalculationError, match="refunded"):
        reprice_after_refunds_without_lines(
            principal=599900,
            term=12,
            consumer_rate=Decimal("0.075"),
            merchant_rate=Decimal("0.075"),
            share_bp=10000,
            purchase_date=date(2026, 11, 11),
            refunded=refunded,
        )


# --- returned lines -------------------------------------------------------------------------------

LINES = [
    PlanLine("P70", "phones", 500000, True),
    PlanLine("CASE", "accessories", 9900, False),
    PlanLine("CASE", "accessories", 9900, False),
]


def test_returned_lines_reduce_a_and_only_in_scope_lines_reduce_l() -> None:
    result = returned_lines_apply(
        plan_lines=LINES, refund_lines=[("CASE", 9900), ("P70", 200000), ("CASE", 5000)]
    )
    assert result.order_amount_reduction == 9900 + 200000 + 5000
    assert result.in_scope_reduction == 200000
    assert result.returned == (200000, 9900, 5000)


def test_a_partly_returned_line_can_be_returned_up_to_what_remains() -> None:
    result = returned_lines_apply(
        plan_lines=LINES, returned=[200000, 0, 0], refund_lines=[("P70", 300000)]
    )
    assert result.returned == (500000, 0, 0)
    with pytest.raises(CalculationError, match="exceeds what remains"):
        returned_lines_apply(
            plan_lines=LINES, returned=[200000, 0, 0], refund_lines=[("P70", 300001)]
        )


@pytest.mark.parametrize(
    ("returned", "refund_lines", "match"),
    [
        (None, [("NOPE", 1)], "matches no line"),
        ([500000, 0, 0], [("P70", 1)], "matches no line"),
        (None, [("CASE", 9901)], "exceeds what remains"),
        (None, [("CASE", 9900), ("CASE", 9900), ("CASE", 1)], "matches no line"),
        (None, [("P70", 0)], "lines"),
        (None, [("P70", -5)], "lines"),
        ([0, 0], [("P70", 1)], "one entry per plan line"),
        ([0, 9901, 0], [("P70", 1)], "returned"),
    ],
)
def test_returned_lines_that_do_not_match_are_refused(
    returned: list[int] | None, refund_lines: list[tuple[str, int]], match: str
) -> None:
    with pytest.raises(CalculationError, match=match):
        returned_lines_apply(plan_lines=LINES, returned=returned, refund_lines=refund_lines)


# --- plan_calc cases ------------------------------------------------------------------------------

CASE = {
    "principal": 599900,
    "term": 12,
    "consumer_rate": "0.075",
    "merchant_rate": "0.075",
    "share_bp": 0,
    "purchase_date": "2026-11-11",
}


def test_run_case_gives_the_contract_keys() -> None:
    answer = run_case(CASE)
    for key in (
        "principal",
        "term",
        "consumer_fee_full",
        "waived_fee",
        "consumer_fee",
        "merchant_subsidy",
        "apr",
        "schedule",
    ):
        assert key in answer
    assert answer == plan_to_dict(_plan(share_bp=0)) | {"refunded": 0, "subsidy_reversed": 0}
    assert json.loads(json.dumps(answer)) == answer


def test_run_case_takes_optional_keys_and_nulls() -> None:
    explicit = run_case(
        CASE | {"eligible": 599900, "statement_day": 1, "due_day": 10, "rounding": "half_up"}
    )
    nulls = run_case(
        CASE | {"eligible": None, "statement_day": None, "due_day": None, "rounding": None}
    )
    assert explicit == nulls == run_case(CASE)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"principal": None}, "principal: is required"),
        ({"consumer_rate": 0.075}, "consumer_rate: must be a decimal string"),
        ({"consumer_rate": Decimal("0.075")}, "consumer_rate: must be a decimal string"),
        ({"merchant_rate": 0}, "merchant_rate: must be a decimal string"),
        ({"consumer_rate": "7.5%"}, "consumer_rate: must be a decimal string"),
        ({"consumer_rate": "1e-2"}, "consumer_rate: must be a decimal string"),
        ({"consumer_rate": "NaN"}, "consumer_rate: must be a decimal string"),
        ({"consumer_rate": "\u0660.\u0665"}, "consumer_rate: must be a decimal string"),
        ({"consumer_rate": "-0.1"}, "consumer_rate: must be at least 0 and below 1"),
        ({"consumer_rate": "1.0"}, "consumer_rate: must be at least 0 and below 1"),
        ({"consumer_rate": "0.1234567"}, "consumer_rate: must have at most 6 decimal places"),
        ({"principal": "599900"}, "principal: must be a JSON integer, got a string"),
        ({"principal": 599900.0}, "principal: must be a JSON integer, got a number"),
        ({"principal": True}, "principal: must be a JSON integer, got a boolean"),
        ({"term": 0}, "term: must be between"),
        ({"share_bp": 10001}, "share_bp: must be between 0 and 10000"),
        ({"share_bp": -1}, "share_bp: must be between 0 and 10000"),
        ({"eligible": 599901}, "eligible: must be between 0 and 599900"),
        ({"refunded": 599901}, "refunded: exceeds the principal"),
        ({"refunded": -1}, "refunded: must be between"),
        ({"statement_day": 29}, "statement_day: must be between 1 and 28"),
        ({"due_day": 0}, "due_day: must be between 1 and 28"),
        ({"purchase_date": "2026-02-30"}, "purchase_date: is not a valid date"),
        ({"purchase_date": "20261111"}, "purchase_date: must be a date as YYYY-MM-DD"),
        ({"purchase_date": "2026-11-11T10:00:00"}, "purchase_date: must be a date"),
        ({"purchase_date": 20261111}, "purchase_date: must be a date"),
        ({"rounding": "HALF_UP"}, "rounding: must be one of half_up, half_even"),
        ({"rounding": 1}, "rounding: must be one of"),
        ({"principle": 5}, "unknown key(s): principle"),
    ],
)
def test_run_case_refuses_bad_cases_naming_the_field(
    change: dict[str, object], message: str
) -> None:
    case = {k: v for k, v in (CASE | change).items() if v is not None}
    with pytest.raises(CalculationError) as error:
        run_case(case)
    assert str(error.value).startswith(message)


def test_run_case_refuses_a_non_object() -> None:
    with pytest.raises(CalculationError, match="JSON object"):
        run_case([1, 2])  # type: ignore[arg-type]


def test_run_lines_answers_line_by_line_and_goes_on_after_errors() -> None:
    good = json.dumps(CASE)
    lines = [
        good + "\n",
        "\n",
        "   \n",
        "{not json\n",
        json.dumps(CASE | {"consumer_rate": 0.075}) + "\n",
        json.dumps(CASE | {"share_bp": 10000}) + "\n",
        '{"principal": NaN}\n',
        '{"principal": 1, "principal": 2}\n',
        "[]\n",
        "[" * 100000 + "\n",
        good,
    ]
    answers = [json.loads(line) for line in run_lines(lines)]
    assert len(answers) == 9
    assert answers[0] == run_case(CASE)
    assert answers[0]["apr"] == "13.57"
    assert answers[1]["error"].startswith("line 4: not valid JSON")
    assert answers[2] == {
        "error": 'line 5: consumer_rate: must be a decimal string such as "0.075", got a number'
    }
    assert answers[3]["consumer_fee"] == 0
    assert answers[4]["error"].startswith("line 7: NaN is not a JSON number")
    assert answers[5]["error"] == "line 8: duplicate key 'principal'"
    assert answers[6]["error"].startswith("line 9: a case must be a JSON object")
    assert answers[7]["error"].startswith("line 10: not valid JSON")
    assert answers[8] == answers[0]


def test_run_lines_output_is_compact_one_line_json() -> None:
    (line,) = list(run_lines([json.dumps(CASE)]))
    assert "\n" not in line
    assert ", " not in line
    assert json.loads(line)["schedule"][0] == {
        "period": 1,
        "due_date": "2026-12-10",
        "principal": 49999,
        "fee": 3754,
        "amount": 53753,
    }


def test_installment_amount_is_principal_plus_fee() -> None:
    assert Installment(1, date(2026, 12, 10), 49999, 3754).amount == 53753


def test_schedules_are_ordinary_immutable_installments() -> None:
    plan = _plan(share_bp=0)
    first = plan.schedule[0]
    assert first == Installment(1, date(2026, 12, 10), 49999, 3754)
    assert hash(first) == hash(Installment(1, date(2026, 12, 10), 49999, 3754))
    assert repr(first) == (
        "Installment(period=1, due_date=datetime.date(2026, 12, 10), principal=49999, fee=3754)"
    )
    with pytest.raises(AttributeError):
        first.fee = 0  # type: ignore[misc]
    assert plan == _plan(share_bp=0)
