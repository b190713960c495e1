"""Invariants of the plan calculator (DESIGN.md §2–§3.4) over random plans, and a cross-check against
a deliberately plain Fraction-based reference written from the design's words."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from installments.calculator import (
    PlanPrice,
    Rounding,
    price_plan,
    reprice_after_refund,
    reprice_after_refunds_without_lines,
)

# Each property runs 1000 examples: about a minute in all.
pytestmark = pytest.mark.slow

MAX_PRINCIPAL = 30_000_000  # 300,000.00: the default tables' maximum

COMMON_RATES = [Decimal(r) for r in ("0", "0.018", "0.023", "0.045", "0.075", "0.1", "0.5")]
rates = st.one_of(
    st.sampled_from(COMMON_RATES),
    st.integers(0, 999_999).map(lambda micro: Decimal(micro).scaleb(-6)),
)
roundings = st.sampled_from(list(Rounding))
days = st.integers(1, 28)
purchase_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@dataclass(frozen=True)
class Inputs:
    principal: int
    term: int
    consumer_rate: Decimal
    merchant_rate: Decimal
    share_bp: int
    eligible: int
    purchase_date: date
    statement_day: int
    due_day: int
    rounding: Rounding

    def kwargs(self, **overrides: object) -> dict[str, object]:
        values = dict(self.__dict__)
        values.update(overrides)
        return values


@st.composite
def plan_inputs(draw: st.DrawFn, min_term: int = 2, max_term: int = 36) -> Inputs:
    principal = draw(
        st.one_of(
            st.integers(1, 100),
            st.integers(1, MAX_PRINCIPAL),
            st.integers(1, 999).map(lambda k: k * 40 + 20),
        )
    )
    eligible = draw(st.one_of(st.just(principal), st.integers(0, principal)))
    return Inputs(
        principal=principal,
        term=draw(st.integers(min_term, max_term)),
        consumer_rate=draw(rates),
        merchant_rate=draw(rates),
        share_bp=draw(st.one_of(st.sampled_from([0, 5000, 10000]), st.integers(0, 10000))),
        eligible=eligible,
        purchase_date=draw(purchase_dates),
        statement_day=draw(days),
        due_day=draw(days),
        rounding=draw(roundings),
    )


def _price(inputs: Inputs, **overrides: object) -> PlanPrice:
    return price_plan(**inputs.kwargs(**overrides))  # type: ignore[arg-type]


# --- the reference: exact Fractions, day-by-day calendars, no shortcuts ----------------------------


def ref_round(value: Fraction, rounding: Rounding) -> int:
    if rounding is Rounding.HALF_EVEN:
        return round(value)  # Python rounds Fractions half to even
    return (
        math.floor(value + Fraction(1, 2)) if value >= 0 else -math.floor(-value + Fraction(1, 2))
    )


def ref_next_day_numbered(after: date, day: int) -> date:
    current = after + timedelta(days=1)
    while current.day != day:
        current += timedelta(days=1)
    return current


def ref_due_dates(purchase: date, term: int, statement_day: int, due_day: int) -> list[date]:
    statements = [ref_next_day_numbered(purchase, statement_day)]
    while len(statements) < term:
        statements.append(ref_next_day_numbered(statements[-1], statement_day))
    return [ref_next_day_numbered(s, due_day) for s in statements]


def ref_present_value(amounts: list[int], monthly_rate: Fraction) -> Fraction:
    return sum(
        (Fraction(a) / (1 + monthly_rate) ** k for k, a in enumerate(amounts, 1)), Fraction(0)
    )


def ref_apr_is_consistent(principal: int, amounts: list[int], apr: str) -> bool:
    """Half-up to 2 decimals gives ``apr`` iff apr − 0.005 <= 1200 r < apr + 0.005. The present value
    decreases in r, so r >= x iff PV(x) >= P: checked exactly at both ends."""
    shown = Fraction(Decimal(apr))
    low = (shown - Fraction(1, 200)) / 1200
    high = (shown + Fraction(1, 200)) / 1200
    low_ok = low <= 0 or ref_present_value(amounts, low) >= principal
    return low_ok and ref_present_value(amounts, high) < principal


@dataclass(frozen=True)
class RefPlan:
    F: int
    W: int
    C: int
    M: int
    principals: list[int]
    fees: list[int]
    dates: list[date]


def ref_price(inputs: Inputs, principal: int, eligible: int, fee_cap: int | None = None) -> RefPlan:
    R = inputs.rounding
    n = inputs.term
    F = ref_round(principal * Fraction(inputs.consumer_rate), R)
    W = ref_round(F * Fraction(inputs.share_bp, 10000) * Fraction(eligible, principal), R)
    C = F - W
    M = ref_round(eligible * Fraction(inputs.merchant_rate) * Fraction(inputs.share_bp, 10000), R)
    if fee_cap is not None and fee_cap < C:
        C = fee_cap
        W = F - C
    principals = [principal // n] * n
    principals[0] += principal - sum(principals)
    fees = [C // n] * n
    fees[0] += C - sum(fees)
    dates = ref_due_dates(inputs.purchase_date, n, inputs.statement_day, inputs.due_day)
    return RefPlan(F, W, C, M, principals, fees, dates)


def assert_matches_reference(plan: PlanPrice, ref: RefPlan) -> None:
    assert (plan.consumer_fee_full, plan.waived_fee, plan.consumer_fee, plan.merchant_subsidy) == (
        ref.F,
        ref.W,
        ref.C,
        ref.M,
    )
    assert [i.principal for i in plan.schedule] == ref.principals
    assert [i.fee for i in plan.schedule] == ref.fees
    assert [i.due_date for i in plan.schedule] == ref.dates
    assert [i.period for i in plan.schedule] == list(range(1, len(ref.dates) + 1))


# --- cross-check ----------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(plan_inputs(min_term=1))
def test_price_plan_matches_the_reference(inputs: Inputs) -> None:
    plan = _price(inputs)
    assert_matches_reference(plan, ref_price(inputs, inputs.principal, inputs.eligible))
    assert plan.apr is not None
    assert ref_apr_is_consistent(plan.principal, [i.amount for i in plan.schedule], plan.apr)


@settings(max_examples=1000, deadline=None)
@given(plan_inputs(), st.data())
def test_plan_calc_refund_matches_the_reference(inputs: Inputs, data: st.DataObject) -> None:
    refunded = data.draw(
        st.integers(1, inputs.principal - 1) if inputs.principal > 1 else st.just(1)
    )
    assume(refunded < inputs.principal)
    before = _price(inputs)
    result = reprice_after_refunds_without_lines(refunded=refunded, **inputs.kwargs())  # type: ignore[arg-type]
    after = inputs.principal - refunded
    # No lines: A = P and L = E, so E' = min(E0, R(E0 × P' / P0)).
    eligible = min(
        inputs.eligible,
        ref_round(Fraction(inputs.eligible * after, inputs.principal), inputs.rounding),
    )
    ref = ref_price(inputs, after, eligible, fee_cap=before.consumer_fee)
    assert result.plan.principal == after
    assert result.plan.eligible == eligible
    assert_matches_reference(result.plan, ref)
    assert result.subsidy_reversed == max(before.merchant_subsidy - ref.M, 0)


# --- invariants -----------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_parts_add_up_and_fees_stay_in_bounds(inputs: Inputs) -> None:
    plan = _price(inputs, with_apr=False)
    assert sum(i.principal for i in plan.schedule) == plan.principal
    assert sum(i.fee for i in plan.schedule) == plan.consumer_fee
    assert all(i.principal >= 0 and i.fee >= 0 for i in plan.schedule)
    assert 0 <= plan.waived_fee <= plan.consumer_fee_full
    assert plan.consumer_fee == plan.consumer_fee_full - plan.waived_fee >= 0
    assert plan.merchant_subsidy >= 0
    assert plan.total_payable == plan.principal + plan.consumer_fee
    # Period 1 takes the remainders, the later periods are all equal.
    assert len({(i.principal, i.fee) for i in plan.schedule[1:]}) <= 1
    assert plan.schedule[0].principal >= plan.schedule[-1].principal
    assert plan.schedule[0].fee >= plan.schedule[-1].fee


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_full_share_on_the_whole_basket_is_free(inputs: Inputs) -> None:
    plan = _price(inputs, share_bp=10000, eligible=None)
    assert plan.waived_fee == plan.consumer_fee_full
    assert plan.consumer_fee == 0
    assert plan.interest_free
    assert plan.apr == "0.00"
    assert all(i.fee == 0 for i in plan.schedule)


@settings(max_examples=1000, deadline=None)
@given(plan_inputs(), st.integers(0, 10000), st.integers(0, 10000))
def test_the_subsidy_never_falls_as_the_share_grows(inputs: Inputs, a: int, b: int) -> None:
    low, high = sorted((a, b))
    lower = _price(inputs, share_bp=low, with_apr=False)
    higher = _price(inputs, share_bp=high, with_apr=False)
    assert lower.merchant_subsidy <= higher.merchant_subsidy
    assert lower.consumer_fee >= higher.consumer_fee


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_due_dates_strictly_increase_monthly(inputs: Inputs) -> None:
    dates = [i.due_date for i in _price(inputs, with_apr=False).schedule]
    assert dates[0] > inputs.purchase_date
    assert all(a < b for a, b in itertools.pairwise(dates))
    assert all(d.day == inputs.due_day for d in dates)
    months = [d.year * 12 + d.month for d in dates]
    assert months == list(range(months[0], months[0] + len(months)))


@settings(max_examples=1000, deadline=None)
@given(purchase_dates, st.integers(2, 36))
@example(date(2026, 1, 1), 12)  # the longest wait: exactly 40 days
def test_with_default_days_the_first_due_date_is_at_most_40_days_away(
    purchase: date, term: int
) -> None:
    plan = price_plan(
        principal=100000,
        term=term,
        consumer_rate=Decimal("0.075"),
        merchant_rate=Decimal("0.075"),
        share_bp=0,
        purchase_date=purchase,
        with_apr=False,
    )
    gap = (plan.schedule[0].due_date - purchase).days
    assert 1 <= gap <= 40
    if purchase.day == 1 and purchase.month in (1, 3, 5, 7, 8, 10, 12):
        assert gap == 40  # the statement comes a whole 31-day month later


def test_some_purchase_date_waits_exactly_40_days() -> None:
    purchase = date(2026, 1, 1)
    plan = price_plan(
        principal=100000,
        term=12,
        consumer_rate=Decimal("0.075"),
        merchant_rate=Decimal("0.075"),
        share_bp=0,
        purchase_date=purchase,
    )
    assert plan.schedule[0].due_date == date(2026, 2, 10)
    assert (plan.schedule[0].due_date - purchase).days == 40


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_refunding_nothing_is_the_identity(inputs: Inputs) -> None:
    result = reprice_after_refunds_without_lines(refunded=0, **inputs.kwargs())  # type: ignore[arg-type]
    assert result.plan == _price(inputs)
    assert result.subsidy_reversed == 0


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_refunding_everything_empties_the_plan(inputs: Inputs) -> None:
    before = _price(inputs)
    result = reprice_after_refunds_without_lines(refunded=inputs.principal, **inputs.kwargs())  # type: ignore[arg-type]
    plan = result.plan
    assert (plan.principal, plan.eligible, plan.consumer_fee_full, plan.waived_fee) == (0, 0, 0, 0)
    assert (plan.consumer_fee, plan.merchant_subsidy, plan.apr, plan.schedule) == (0, 0, "0.00", ())
    assert result.subsidy_reversed == before.merchant_subsidy


@st.composite
def refunds_with_lines(draw: st.DrawFn) -> tuple[Inputs, int, int, list[tuple[int, int, int]]]:
    """A plan priced from a basket (A, L, government subsidy), then a few refunds, each with the
    order-amount and in-scope reductions of the lines it names (possibly none)."""
    inputs = draw(plan_inputs())
    order = inputs.principal + draw(st.one_of(st.just(0), st.integers(0, inputs.principal)))
    in_scope = draw(st.integers(0, order))
    eligible = ref_round(Fraction(in_scope * inputs.principal, order), inputs.rounding)
    inputs = Inputs(**inputs.kwargs(eligible=eligible))  # type: ignore[arg-type]
    refunds = []
    principal_left, order_left, scope_left = inputs.principal, order, in_scope
    for _ in range(draw(st.integers(1, 4))):
        if principal_left == 0:
            break
        amount = draw(st.integers(1, principal_left))
        scope_cut = draw(st.integers(0, scope_left))
        other_cut = draw(st.integers(0, (order_left - scope_left)))
        refunds.append((amount, scope_cut + other_cut, scope_cut))
        principal_left -= amount
        order_left -= scope_cut + other_cut
        scope_left -= scope_cut
    return inputs, order, in_scope, refunds


@settings(max_examples=1000, deadline=None)
@given(refunds_with_lines())
def test_a_refund_never_raises_the_fee_nor_the_subsidy(
    case: tuple[Inputs, int, int, list[tuple[int, int, int]]],
) -> None:
    inputs, order, in_scope, refunds = case
    plan = _price(inputs)
    reversed_total = 0
    for amount, order_cut, scope_cut in refunds:
        order -= order_cut
        in_scope -= scope_cut
        result = reprice_after_refund(
            current=plan,
            refund_amount=amount,
            order_amount_after=order,
            in_scope_after=in_scope,
            consumer_rate=inputs.consumer_rate,
            merchant_rate=inputs.merchant_rate,
            share_bp=inputs.share_bp,
            purchase_date=inputs.purchase_date,
            statement_day=inputs.statement_day,
            due_day=inputs.due_day,
            rounding=inputs.rounding,
        )
        after = result.plan
        assert after.principal == plan.principal - amount
        assert after.consumer_fee <= plan.consumer_fee
        assert after.merchant_subsidy <= plan.merchant_subsidy
        assert after.eligible <= plan.eligible
        assert after.eligible <= after.principal
        assert result.subsidy_reversed == plan.merchant_subsidy - after.merchant_subsidy >= 0
        assert 0 <= after.waived_fee <= after.consumer_fee_full
        assert after.consumer_fee == after.consumer_fee_full - after.waived_fee
        assert sum(i.principal for i in after.schedule) == after.principal
        assert sum(i.fee for i in after.schedule) == after.consumer_fee
        assert [i.due_date for i in after.schedule] == [i.due_date for i in plan.schedule][
            : len(after.schedule)
        ]
        reversed_total += result.subsidy_reversed
        plan = after
    first = _price(inputs)
    assert first.merchant_subsidy - reversed_total == plan.merchant_subsidy


def _is_exact_half(value: Fraction) -> bool:
    return value.denominator == 2


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_half_even_and_half_up_differ_only_on_exact_halves(inputs: Inputs) -> None:
    up = _price(inputs, rounding=Rounding.HALF_UP, with_apr=False)
    even = _price(inputs, rounding=Rounding.HALF_EVEN, with_apr=False)
    P, E, s = inputs.principal, inputs.eligible, inputs.share_bp
    exact_f = P * Fraction(inputs.consumer_rate)
    if up.consumer_fee_full != even.consumer_fee_full:
        assert _is_exact_half(exact_f)
        assert up.consumer_fee_full == even.consumer_fee_full + 1
    else:
        exact_w = up.consumer_fee_full * Fraction(s, 10000) * Fraction(E, P)
        assert (up.waived_fee == even.waived_fee) or _is_exact_half(exact_w)
    exact_m = E * Fraction(inputs.merchant_rate) * Fraction(s, 10000)
    assert (up.merchant_subsidy == even.merchant_subsidy) or _is_exact_half(exact_m)
    if not any(_is_exact_half(x) for x in (exact_f, exact_m)) and not _is_exact_half(
        up.consumer_fee_full * Fraction(s, 10000) * Fraction(E, P)
    ):
        assert up == even


@settings(max_examples=1000, deadline=None)
@given(plan_inputs())
def test_apr_round_trips_and_is_zero_exactly_when_free_or_negligible(inputs: Inputs) -> None:
    plan = _price(inputs)
    assert plan.apr is not None
    amounts = [i.amount for i in plan.schedule]
    assert ref_apr_is_consistent(plan.principal, amounts, plan.apr)
    if plan.consumer_fee == 0:
        assert plan.apr == "0.00"
    elif plan.apr == "0.00":
        # A fee so small against the principal that 12 r < 0.005 %: the only other way to "0.00".
        assert ref_present_value(amounts, Fraction(1, 200 * 1200)) < plan.principal
    else:
        assert Decimal(plan.apr) > 0


@settings(max_examples=1_000, deadline=None)
@given(
    principal=st.integers(min_value=1, max_value=10**12),
    term=st.integers(min_value=1, max_value=36),
    fee=st.integers(min_value=1, max_value=10**11),
    front=st.integers(min_value=0, max_value=10**6),
)
def test_apr_started_from_the_estimate_equals_apr_started_from_one(principal, term, fee, front):
    """The 18-digit estimate only chooses where the exact iteration starts (calculator._apr_start)."""
    import installments.calculator as calculator

    rest = (principal + fee) // term
    amounts = [principal + fee - rest * (term - 1) + front] + [rest] * (term - 1)
    amounts[-1] -= front
    if amounts[-1] < 0 or sum(amounts) <= principal:
        return
    seeded = calculator._apr(principal, amounts)
    original = calculator._apr_start
    calculator._apr_start = lambda *args: calculator._ONE
    try:
        assert calculator._apr(principal, amounts) == seeded
    finally:
        calculator._apr_start = original


@settings(max_examples=1_000, deadline=None)
@given(
    principal=st.integers(min_value=1, max_value=10**12),
    term=st.one_of(st.sampled_from([1, 2, 3, 6, 12, 24, 36]), st.integers(1, 360)),
    fee=st.one_of(
        st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=10**11)
    ),
)
@example(principal=699_900, term=6, fee=25_196)
@example(principal=1, term=360, fee=10**11)
@example(principal=10**12, term=360, fee=1)
def test_the_integer_apr_of_even_schedules_equals_the_newton_apr(principal, term, fee):
    """``_price`` finds the APR of its schedules (a first payment, then equal ones) by exact integer
    tests (calculator._apr_even); the general Newton iteration must agree to the hundredth."""
    import installments.calculator as calculator

    rest_principal, rest_fee = principal // term, fee // term
    first = principal - rest_principal * (term - 1) + fee - rest_fee * (term - 1)
    rest = rest_principal + rest_fee
    assert calculator._apr_even(principal, first, rest, term) == calculator._apr(
        principal, [first] + [rest] * (term - 1)
    )


@settings(max_examples=500, deadline=None)
@given(inputs=plan_inputs(min_term=1))
def test_a_term_pricing_prices_a_plan_as_price_plan_does(inputs: Inputs) -> None:
    """Matching prices each option through ``TermPricing.plan``, the rates validated once."""
    from installments.calculator import TermPricing

    pricing = TermPricing.of(
        consumer_rate=inputs.consumer_rate,
        merchant_rate=inputs.merchant_rate,
        rounding=inputs.rounding,
    )
    assert pricing.plan(
        principal=inputs.principal,
        term=inputs.term,
        share_bp=inputs.share_bp,
        eligible=inputs.eligible,
        purchase_date=inputs.purchase_date,
        statement_day=inputs.statement_day,
        due_day=inputs.due_day,
    ) == _price(inputs)
