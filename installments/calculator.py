"""The plan calculator of DESIGN.md §3: pure functions, inputs in, frozen dataclasses out.

Everything that prices money (quotes, commits, refunds, the back-office preview, the admin and the
``plan_calc`` command) goes through this module so they all agree to the minor unit. It imports nothing
from Django on purpose: it is the contract, testable and benchmarkable on its own.

Conventions:
- amounts are ``int`` minor units (fen), never floats;
- rates are ``Decimal`` with at most 6 decimal places, handled internally as integer millionths;
- shares are basis points (``int``, 0..10000);
- every quantity is computed exactly in integers and rounded once (``Rounding``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple

__all__ = [
    "MAX_AMOUNT",
    "MAX_TERM",
    "MIN_TERM",
    "CalculationError",
    "FeeAmounts",
    "Installment",
    "LinesReturned",
    "PlanLine",
    "PlanPrice",
    "RefundResult",
    "Rounding",
    "TermPricing",
    "annual_percentage_rate",
    "due_dates",
    "eligible_amount",
    "parse_case",
    "plan_to_dict",
    "price_plan",
    "reprice_after_refund",
    "reprice_after_refunds_without_lines",
    "returned_lines_apply",
    "round_money",
    "run_case",
    "run_lines",
    "split_evenly",
]

# Amounts are stored in BigIntegerField columns; anything larger cannot be persisted, so refuse it here.
MAX_AMOUNT = 2**63 - 1
# The fee tables allow terms 2..36; the calculator is exact for any term, but a bound keeps a typo in
# plan_calc from asking for millions of installments.
MIN_TERM = 1
MAX_TERM = 360
MAX_SHARE_BP = 10_000
MIN_DAY = 1
MAX_DAY = 28

_BP = 10_000
_RATE_SCALE = 1_000_000  # rates carry at most 6 decimal places: held as integer millionths
_MICRO = Decimal("1e-6")
# Its own context so a caller's (thread-local) context, traps included, never changes a result.
_RATE_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[])


class Rounding(StrEnum):
    """How each quantity of §3 is rounded to a whole minor unit (ties only differ)."""

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"


class CalculationError(ValueError):
    """Invalid input to the calculator. ``field`` names the offending input when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class Installment(NamedTuple):
    """One period of the schedule: what the lender bills on ``due_date``. A named tuple: a quote
    builds one per period of every term offered, and a tuple is built in one step."""

    period: int
    due_date: date
    principal: int
    fee: int

    @property
    def amount(self) -> int:
        return self.principal + self.fee


_new_tuple = tuple.__new__


def _installment(period: int, due_date: date, principal: int, fee: int) -> Installment:
    return _new_tuple(Installment, (period, due_date, principal, fee))


@dataclass(frozen=True, slots=True)
class PlanPrice:
    """A priced plan (§3.2). ``apr`` is ``None`` only when it was not asked for (``with_apr=False``)."""

    principal: int
    term: int
    eligible: int
    consumer_fee_full: int  # F
    waived_fee: int  # W
    consumer_fee: int  # C
    merchant_subsidy: int  # M
    apr: str | None
    schedule: tuple[Installment, ...]

    @property
    def interest_free(self) -> bool:
        return self.consumer_fee == 0

    @property
    def total_payable(self) -> int:
        return self.principal + self.consumer_fee


@dataclass(frozen=True, slots=True)
class RefundResult:
    """The plan as re-priced by one refund (§3.4) and the subsidy that refund gives back."""

    plan: PlanPrice
    subsidy_reversed: int


@dataclass(frozen=True, slots=True)
class PlanLine:
    """A basket line as locked on a plan; ``in_scope`` says whether it counted toward the campaign's L."""

    sku: str
    category: str
    amount: int
    in_scope: bool


@dataclass(frozen=True, slots=True)
class LinesReturned:
    """Outcome of naming returned lines in a refund (§3.4).

    ``order_amount_reduction`` comes off the plan's ``A``, ``in_scope_reduction`` off its ``L``;
    ``returned`` is the cumulative amount returned per plan line (same order as the plan's lines)
    after this refund, to be stored for the next one.
    """

    order_amount_reduction: int
    in_scope_reduction: int
    returned: tuple[int, ...]


# --------------------------------------------------------------------------------------------------
# Rounding and validation primitives


def _div_round(numerator: int, denominator: int, half_even: bool) -> int:
    """``numerator / denominator`` rounded to an integer; ``denominator`` must be positive."""
    quotient, remainder = divmod(numerator, denominator)  # floor division: 0 <= remainder < den
    twice = remainder + remainder
    if twice > denominator:
        return quotient + 1
    if twice < denominator:
        return quotient
    # An exact half. Half-up means away from zero: up for positives, down (= quotient) for negatives.
    if half_even:
        return quotient + (quotient & 1)
    return quotient + 1 if quotient >= 0 else quotient


def round_money(value: Fraction, rounding: Rounding) -> int:
    """Round an exact value to a whole minor unit; ties go away from zero (half_up) or to even."""
    if not isinstance(value, Fraction):
        value = Fraction(value)
    return _div_round(value.numerator, value.denominator, _is_half_even(rounding))


def _is_half_even(rounding: object) -> bool:
    if rounding is Rounding.HALF_UP:
        return False
    if rounding is Rounding.HALF_EVEN:
        return True
    if isinstance(rounding, str) and rounding in _ROUNDING_VALUES:
        return rounding == Rounding.HALF_EVEN
    raise _bad_rounding(rounding)


_ROUNDING_VALUES = frozenset(member.value for member in Rounding)


def _bad_rounding(value: object) -> CalculationError:
    choices = ", ".join(member.value for member in Rounding)
    return CalculationError(f"must be one of {choices}, got {value!r}", field="rounding")


def _check_int(value: object, field: str, low: int, high: int) -> int:
    # bool is a subclass of int: True must not silently become 1 fen or a 1-period plan.
    if type(value) is not int:
        raise CalculationError(f"must be an integer, got {type(value).__name__}", field=field)
    if not low <= value <= high:
        raise CalculationError(f"must be between {low} and {high}, got {value}", field=field)
    return value


# Valid rates already converted: a quote converts a dozen, and the platform has a handful.
_MILLIONTHS: dict[Decimal, int] = {}


def _rate_millionths(rate: object, field: str) -> int:
    """The rate as an exact integer number of millionths, validating 0 <= rate < 1, <= 6 places."""
    if type(rate) is Decimal and rate.is_finite():
        known = _MILLIONTHS.get(rate)
        if known is not None:
            return known
    if not isinstance(rate, Decimal):
        raise CalculationError(
            f"must be a Decimal (a decimal string at the boundary), got {type(rate).__name__}",
            field=field,
        )
    if not rate.is_finite():
        raise CalculationError(f"must be a finite decimal, got {rate}", field=field)
    # adjusted() is the exponent of the leading digit, so >= 0 means |rate| >= 1; checking it first
    # keeps absurd inputs ("1e999999") away from the arithmetic below.
    if rate < 0 or (rate and rate.adjusted() >= 0):
        raise CalculationError(f"must be at least 0 and below 1, got {rate}", field=field)
    micro = _RATE_CONTEXT.quantize(rate, _MICRO)
    # Compared by value: trailing zeros ("0.0750000") are not extra places, the value is what is priced.
    if micro != rate:
        raise CalculationError(f"must have at most 6 decimal places, got {rate}", field=field)
    numerator, denominator = micro.as_integer_ratio()
    millionths = numerator * (_RATE_SCALE // denominator)
    if type(rate) is Decimal and len(_MILLIONTHS) < 4096:
        _MILLIONTHS[rate] = millionths
    return millionths


def _check_date(value: object, field: str) -> date:
    # datetime is a subclass of date; a datetime here means the caller skipped the local-date step.
    if type(value) is not date:
        raise CalculationError(
            f"must be a date (not a datetime), got {type(value).__name__}", field=field
        )
    return value


# --------------------------------------------------------------------------------------------------
# Steps of §3.2


def split_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts``: ``floor(total/parts)`` each, the first part takes the rest.

    The parts always add up to ``total`` (§3.2 steps 5 and 6); parts may be 0 when total < parts.
    """
    _check_int(total, "total", 0, MAX_AMOUNT)
    _check_int(parts, "parts", 1, MAX_TERM)
    base = total // parts
    return [total - base * (parts - 1)] + [base] * (parts - 1)


def due_dates(*, purchase_date: date, term: int, statement_day: int, due_day: int) -> list[date]:
    """Due dates of installments 1..term (§3.2 step 7).

    The first statement date is the first day-``statement_day`` date strictly after the purchase date,
    then monthly; installment k is due on the first day-``due_day`` date strictly after the k-th
    statement date. Days are limited to 1..28 so every month has them.
    """
    _check_date(purchase_date, "purchase_date")
    _check_int(term, "term", MIN_TERM, MAX_TERM)
    _check_int(statement_day, "statement_day", MIN_DAY, MAX_DAY)
    _check_int(due_day, "due_day", MIN_DAY, MAX_DAY)
    return _due_dates(purchase_date, term, statement_day, due_day)


def _due_dates(purchase_date: date, term: int, statement_day: int, due_day: int) -> list[date]:
    # Months are counted as one integer (year * 12 + month - 1) so rolling over years is plain addition.
    first_statement = purchase_date.year * 12 + purchase_date.month - 1
    if purchase_date.day >= statement_day:
        first_statement += 1
    # The due day falls in the statement's month when it comes later in the month, else the next one
    # (equal days: "strictly after" pushes it a month).
    first_due = first_statement + (0 if due_day > statement_day else 1)
    try:
        return [date(m // 12, m % 12 + 1, due_day) for m in range(first_due, first_due + term)]
    except ValueError:
        raise CalculationError("the schedule runs past year 9999", field="purchase_date") from None


_APR_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
_APR_MAX_ITERATIONS = 200
_APR_STEP_TOLERANCE = Decimal("1e-16")
_APR_BOUNDARY_WINDOW = Decimal("1e-9")
_APR_ESTIMATE_CONTEXT = Context(prec=18, rounding=ROUND_HALF_EVEN)
_APR_ESTIMATE_TOLERANCE = Decimal("1e-14")
_APR_ESTIMATE_NUDGE = Decimal("1.00000001")
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HALF = Decimal("0.5")


def annual_percentage_rate(*, principal: int, amounts: Sequence[int]) -> str:
    """APR disclosure by the IRR method (§3.2 step 8), e.g. ``"13.57"``.

    The monthly rate r solves ``principal = Σ amounts[k-1] / (1+r)^k``; the APR is ``12 r`` in percent,
    rounded half-up to two decimals. ``"0.00"`` when the amounts total the principal. The amounts must
    total at least the principal (a fee is never negative).
    """
    _check_int(principal, "principal", 1, MAX_AMOUNT)
    if not amounts:
        raise CalculationError("must not be empty", field="amounts")
    if len(amounts) > MAX_TERM:
        raise CalculationError(f"must have at most {MAX_TERM} periods", field="amounts")
    total = 0
    for amount in amounts:
        _check_int(amount, "amounts", 0, MAX_AMOUNT)
        total += amount
    if total < principal:
        raise CalculationError("must total at least the principal", field="amounts")
    if total == principal:
        return "0.00"
    return _apr(principal, amounts)


def _apr(principal: int, amounts: Sequence[int]) -> str:
    # Solved in v = 1/(1+r): g(v) = Σ A_k v^k − P is a polynomial with non-negative coefficients, so it
    # is increasing and convex on v > 0, with g(1) = total − P > 0. Newton from v = 1 therefore descends
    # monotonically onto the root from above (r rises from 0 onto its root from below), never
    # overshooting; Horner's scheme gives g and g' in 4 operations per period.
    with localcontext(_APR_CONTEXT):
        coefficients = [Decimal(a) for a in reversed(amounts)]
        target = Decimal(principal)
        v = _newton(coefficients, target, _apr_start(coefficients, target), _APR_STEP_TOLERANCE)
        if v is None:
            raise CalculationError("the APR did not converge", field="apr")
        percent = (_ONE / v - _ONE) * 1200
        hundredths = percent * 100
        floor_hundredths = hundredths.to_integral_value(rounding=ROUND_FLOOR)
        if abs(hundredths - floor_hundredths - _HALF) < _APR_BOUNDARY_WINDOW:
            # r is good to ~1e-30, but an exact tie (possible when the root is rational) could still
            # land a hair on either side of it; near a rounding boundary settle it exactly.
            cents = _apr_cents_at_boundary(principal, amounts, int(floor_hundredths))
        else:
            cents = int(hundredths.to_integral_value(rounding=ROUND_HALF_UP))
    return f"{cents // 100}.{cents % 100:02d}"


def _newton(
    coefficients: list[Decimal], target: Decimal, v: Decimal, tolerance: Decimal
) -> Decimal | None:
    """Newton's steps on g(v) = Σ A_k v^k − P from ``v``, at the current context's precision,
    until a step is below ``tolerance`` relative to v²; None if they never get there."""
    for _ in range(_APR_MAX_ITERATIONS):
        q = dq = _ZERO
        for a in coefficients:
            dq = dq * v + q
            q = q * v + a
        # q(v) = Σ A_k v^(k-1), so g = v q − P and g' = q + v q'.
        step = (v * q - target) / (q + v * dq)
        v -= step
        # A step of dv moves r = 1/v − 1 by about dv / v², hence the relative tolerance.
        if step < tolerance * v * v:
            return v
    return None


def _apr_start(coefficients: list[Decimal], target: Decimal) -> Decimal:
    """Where the exact iteration starts: v = 1, or a point just above the root found by the same
    Newton steps at 18 digits (one machine word each, several times cheaper than 40), which saves
    the exact iteration most of its steps.

    The estimate is nudged up by a millionth of a percent and then checked at full precision
    (g(start) > 0 means start lies above the root, g being increasing), so the exact iteration
    still descends onto the root from above, as from v = 1, and ends on the same value; if the
    check fails it starts from v = 1."""
    with localcontext(_APR_ESTIMATE_CONTEXT):
        v = _newton(coefficients, target, _ONE, _APR_ESTIMATE_TOLERANCE)
        if v is None:
            return _ONE
        start = v * _APR_ESTIMATE_NUDGE
    if not _ZERO < start < _ONE:
        return _ONE
    q = _ZERO
    for a in coefficients:
        q = q * start + a
    return start if start * q - target > 0 else _ONE


# The APR in hundredths of a percent, rounded half up, is f + 1 or more exactly when the monthly
# rate r is at least r_f = (2f + 1) / _APR_HALF_CENTS (the APR f + 0.5 hundredths).
_APR_HALF_CENTS = 240_000


def _apr_even(principal: int, first: int, rest: int, term: int) -> str:
    """``_apr(principal, [first] + [rest] * (term - 1))`` (the schedules ``_price`` builds), found
    with integers alone, most often in four or six tests.

    The APR in hundredths is the number of f >= 0 with r >= r_f. As the present value of the
    payments falls when the rate rises, r >= r_f exactly when their present value at r_f is at
    least the principal; with 1 + r_f = N / D and the equal payments after the first summed as a
    geometric series, that is one comparison of integers, exact. Each round tests f and f + 1;
    when they disagree, the count is f + 1. Otherwise the next f is where the line through the
    two present values crosses the principal (a secant step), kept inside the bracket the tests
    so far allow, or its middle when the secant step did not halve it: never more rounds than a
    bisection would take, twice over."""
    d = _APR_HALF_CENTS
    d_rest = d ** (term - 1)

    def gap(f: int) -> int:
        """(present value at r_f − principal) × 2^64, rounded down: its sign is exact."""
        n = d + 2 * f + 1
        n_rest = n ** (term - 1)
        width = n - d
        scaled = (
            first * d * n_rest * width
            + rest * d * d * (n_rest - d_rest)
            - principal * n_rest * n * width
        )  # the present value's gap × N^term × (N − D)
        return (scaled << 64) // (n_rest * n * width)

    fee = first + rest * (term - 1) - principal
    # Where to begin: the constant-ratio approximation 2 n fee / (principal (n + 1)) of the yearly
    # rate of n monthly payments, in hundredths of a percent.
    f = 240_000 * fee // (principal * (term + 1))
    low, high = -1, None  # gap(low) >= 0 (r > 0 = r_-1 as fee > 0), gap(high) < 0
    while True:
        here, above = gap(f), gap(f + 1)
        if here >= 0 > above:
            high = f + 1
            break
        before = None if high is None else high - low
        if above >= 0:
            low = f + 1
        else:
            high = f
        if high is not None and high == low + 1:
            break
        guess = f + here // (here - above) if here > above else f
        if high is None:
            f = max(guess, 2 * low + 1)  # no upper bound yet: at least double
        elif low < guess < high and (before is None or 2 * (high - low) <= before):
            f = guess
        else:
            f = (low + high) // 2
        f = min(f, high - 2) if high is not None else f  # f + 1 must stay below high
        f = max(f, low + 1)
    return f"{high // 100}.{high % 100:02d}"


def _apr_cents_at_boundary(principal: int, amounts: Sequence[int], floor_cents: int) -> int:
    # The boundary APR b = (floor_cents + 0.5) / 100 percent is a monthly rate
    # r_b = (2 floor_cents + 1) / 240000. The APR rounds up (half-up) iff the true r >= r_b, i.e.
    # (the present value falls as r rises) iff Σ A_k / (1 + r_b)^k >= P. With 1 + r_b = N / D,
    # multiply through by N^n to stay in integers.
    denominator = _APR_HALF_CENTS
    numerator = denominator + 2 * floor_cents + 1
    n = len(amounts)
    present = sum(a * denominator**k * numerator ** (n - k) for k, a in enumerate(amounts, 1))
    return floor_cents + 1 if present >= principal * numerator**n else floor_cents


# --------------------------------------------------------------------------------------------------
# Pricing


class _Terms(NamedTuple):
    """What a plan locks besides its amounts, validated once: rates, share, days, rounding."""

    consumer_micro: int
    merchant_micro: int
    share_bp: int
    purchase_date: date
    statement_day: int
    due_day: int
    half_even: bool


def _terms(
    consumer_rate: object,
    merchant_rate: object,
    share_bp: object,
    purchase_date: object,
    statement_day: object,
    due_day: object,
    rounding: object,
) -> _Terms:
    return _Terms(
        consumer_micro=_rate_millionths(consumer_rate, "consumer_rate"),
        merchant_micro=_rate_millionths(merchant_rate, "merchant_rate"),
        share_bp=_check_int(share_bp, "share_bp", 0, MAX_SHARE_BP),
        purchase_date=_check_date(purchase_date, "purchase_date"),
        statement_day=_check_int(statement_day, "statement_day", MIN_DAY, MAX_DAY),
        due_day=_check_int(due_day, "due_day", MIN_DAY, MAX_DAY),
        half_even=_is_half_even(rounding),
    )


def price_plan(
    *,
    principal: int,
    term: int,
    consumer_rate: Decimal,
    merchant_rate: Decimal,
    share_bp: int,
    eligible: int | None = None,
    purchase_date: date,
    statement_day: int = 1,
    due_day: int = 10,
    rounding: Rounding = Rounding.HALF_UP,
    with_apr: bool = True,
) -> PlanPrice:
    """Price a plan by DESIGN.md §3.2 steps 1–8.

    ``eligible`` is E, the part of the principal the campaign covers (``None`` means all of it).
    Raises ``CalculationError`` on any invalid input. ``with_apr=False`` skips step 8 (``apr`` is
    ``None``), for callers that only need the amounts.
    """
    _check_int(principal, "principal", 1, MAX_AMOUNT)
    _check_int(term, "term", MIN_TERM, MAX_TERM)
    if eligible is None:
        eligible = principal
    else:
        _check_int(eligible, "eligible", 0, principal)
    terms = _terms(
        consumer_rate, merchant_rate, share_bp, purchase_date, statement_day, due_day, rounding
    )
    return _price(terms, principal, term, eligible, with_apr)


_DUE_DATES: dict[tuple[date, int, int, int], list[date]] = {}


def _price(
    terms: _Terms,
    principal: int,
    term: int,
    eligible: int,
    with_apr: bool,
    consumer_fee_cap: int | None = None,
) -> PlanPrice:
    half_even = terms.half_even
    # Each quantity is one exact integer ratio rounded once.
    full_fee = _div_round(principal * terms.consumer_micro, _RATE_SCALE, half_even)
    # W uses the already-rounded F (§2): F × s/10000 × E/P as one fraction.
    waived = _div_round(full_fee * terms.share_bp * eligible, _BP * principal, half_even)
    fee = full_fee - waived
    subsidy = _div_round(
        eligible * terms.merchant_micro * terms.share_bp, _RATE_SCALE * _BP, half_even
    )
    if consumer_fee_cap is not None and fee > consumer_fee_cap:
        # §3.4 step 2: a refund never raises what the consumer pays.
        fee = consumer_fee_cap
        waived = full_fee - fee

    # Steps 5-6 inline (as split_evenly): periods 2..n are equal, which also keeps the APR cheap.
    principal_rest = principal // term
    principal_first = principal - principal_rest * (term - 1)
    fee_rest = fee // term
    fee_first = fee - fee_rest * (term - 1)
    dates_key = (terms.purchase_date, term, terms.statement_day, terms.due_day)
    dates = _DUE_DATES.get(dates_key)
    if dates is None:  # the same few per day: every quote prices today's purchase on 3, 6, 12
        dates = _due_dates(*dates_key)
        if len(_DUE_DATES) >= 4096:
            _DUE_DATES.clear()
        _DUE_DATES[dates_key] = dates
    schedule = [_installment(1, dates[0], principal_first, fee_first)]
    schedule += [
        _installment(k, dates[k - 1], principal_rest, fee_rest) for k in range(2, term + 1)
    ]
    apr: str | None = None
    if with_apr:
        if fee == 0:
            apr = "0.00"
        else:
            apr = _apr_even(principal, principal_first + fee_first, principal_rest + fee_rest, term)
    # Positional (fields in declaration order) as this is the hot path.
    return PlanPrice(
        principal, term, eligible, full_fee, waived, fee, subsidy, apr, tuple(schedule)
    )


@dataclass(frozen=True, slots=True)
class FeeAmounts:
    """Steps 1-4 of §3.2 only: what matching compares candidates by, before a schedule is built."""

    consumer_fee_full: int  # F
    waived_fee: int  # W
    consumer_fee: int  # C
    merchant_subsidy: int  # M


@dataclass(frozen=True, slots=True)
class TermPricing:
    """One term's rates and rounding, validated once, to price many candidates cheaply.

    Matching prices every applicable campaign on every term; this keeps each candidate to a few
    integer operations (the same ones ``price_plan`` makes) and leaves the schedule and APR to the
    winner."""

    consumer_micro: int
    merchant_micro: int
    half_even: bool

    @classmethod
    def of(
        cls, *, consumer_rate: Decimal, merchant_rate: Decimal, rounding: Rounding
    ) -> TermPricing:
        return cls(
            consumer_micro=_rate_millionths(consumer_rate, "consumer_rate"),
            merchant_micro=_rate_millionths(merchant_rate, "merchant_rate"),
            half_even=_is_half_even(rounding),
        )

    def plan(
        self,
        *,
        principal: int,
        term: int,
        share_bp: int,
        eligible: int,
        purchase_date: date,
        statement_day: int,
        due_day: int,
    ) -> PlanPrice:
        """``price_plan`` at these rates and rounding, which ``of`` validated already."""
        _check_int(principal, "principal", 1, MAX_AMOUNT)
        _check_int(term, "term", MIN_TERM, MAX_TERM)
        _check_int(eligible, "eligible", 0, principal)
        terms = _Terms(
            consumer_micro=self.consumer_micro,
            merchant_micro=self.merchant_micro,
            share_bp=_check_int(share_bp, "share_bp", 0, MAX_SHARE_BP),
            purchase_date=_check_date(purchase_date, "purchase_date"),
            statement_day=_check_int(statement_day, "statement_day", MIN_DAY, MAX_DAY),
            due_day=_check_int(due_day, "due_day", MIN_DAY, MAX_DAY),
            half_even=self.half_even,
        )
        return _price(terms, principal, term, eligible, True)

    def amounts(self, *, principal: int, eligible: int, share_bp: int) -> FeeAmounts:
        """F, W, C and M for ``0 <= eligible <= principal``, ``principal > 0``, ``0 <= share_bp <= 10000``."""
        _check_int(principal, "principal", 1, MAX_AMOUNT)
        _check_int(eligible, "eligible", 0, principal)
        _check_int(share_bp, "share_bp", 0, MAX_SHARE_BP)
        half_even = self.half_even
        full_fee = _div_round(principal * self.consumer_micro, _RATE_SCALE, half_even)
        waived = _div_round(full_fee * share_bp * eligible, _BP * principal, half_even)
        subsidy = _div_round(
            eligible * self.merchant_micro * share_bp, _RATE_SCALE * _BP, half_even
        )
        return FeeAmounts(full_fee, waived, full_fee - waived, subsidy)


def eligible_amount(
    *, in_scope_total: int, principal: int, order_amount: int, rounding: Rounding
) -> int:
    """E = R(L × P / A) (§3.3): the in-scope line total L scaled by the financed share of the order.

    Requires 0 <= L <= A and 0 < P <= A (P = A − G with the government subsidy G >= 0).
    """
    _check_int(order_amount, "order_amount", 1, MAX_AMOUNT)
    _check_int(in_scope_total, "in_scope_total", 0, order_amount)
    _check_int(principal, "principal", 1, order_amount)
    return _div_round(in_scope_total * principal, order_amount, _is_half_even(rounding))


# --------------------------------------------------------------------------------------------------
# Refunds (§3.4)


def reprice_after_refund(
    *,
    current: PlanPrice,
    refund_amount: int,
    order_amount_after: int,
    in_scope_after: int,
    consumer_rate: Decimal,
    merchant_rate: Decimal,
    share_bp: int,
    purchase_date: date,
    statement_day: int,
    due_day: int,
    rounding: Rounding,
    with_apr: bool = True,
) -> RefundResult:
    """Re-price ``current`` after one refund of ``refund_amount`` (§3.4).

    ``order_amount_after`` and ``in_scope_after`` are the plan's A' and L': its order amount and
    in-scope line total less every line refunds named as returned, this one included (unchanged by a
    refund naming no lines; a plan priced without lines has A = P and L = E). Rates, share, days and
    rounding are the ones the plan locked at commit.
    """
    before = current.principal
    _check_int(refund_amount, "refund_amount", 1, MAX_AMOUNT)
    if refund_amount > before:
        raise CalculationError(
            f"exceeds what remains of the principal ({before})", field="refund_amount"
        )
    _check_int(order_amount_after, "order_amount_after", 0, MAX_AMOUNT)
    _check_int(in_scope_after, "in_scope_after", 0, order_amount_after)
    terms = _terms(
        consumer_rate, merchant_rate, share_bp, purchase_date, statement_day, due_day, rounding
    )
    return _reprice(
        terms, current, before - refund_amount, order_amount_after, in_scope_after, with_apr
    )


def _reprice(
    terms: _Terms,
    current: PlanPrice,
    principal_after: int,
    order_amount_after: int,
    in_scope_after: int,
    with_apr: bool,
) -> RefundResult:
    if principal_after == 0:
        # A full refund leaves an empty plan: nothing financed, nothing charged, nothing to bill.
        empty = PlanPrice(
            principal=0,
            term=current.term,
            eligible=0,
            consumer_fee_full=0,
            waived_fee=0,
            consumer_fee=0,
            merchant_subsidy=0,
            apr="0.00" if with_apr else None,
            schedule=(),
        )
        return RefundResult(plan=empty, subsidy_reversed=max(current.merchant_subsidy, 0))
    # E' can only fall: the returned lines come off L' and the refund off P'.
    scaled = (
        _div_round(in_scope_after * principal_after, order_amount_after, terms.half_even)
        if order_amount_after
        else 0
    )
    eligible = min(current.eligible, scaled)
    plan = _price(terms, principal_after, current.term, eligible, with_apr, current.consumer_fee)
    reversed_ = max(current.merchant_subsidy - plan.merchant_subsidy, 0)
    return RefundResult(plan=plan, subsidy_reversed=reversed_)


def reprice_after_refunds_without_lines(
    *,
    principal: int,
    term: int,
    consumer_rate: Decimal,
    merchant_rate: Decimal,
    share_bp: int,
    eligible: int | None = None,
    purchase_date: date,
    statement_day: int = 1,
    due_day: int = 10,
    rounding: Rounding = Rounding.HALF_UP,
    refunded: int,
    with_apr: bool = True,
) -> RefundResult:
    """Price a plan, then apply one refund of ``refunded`` naming no lines (``plan_calc``'s key).

    Such a plan has no lines, so A = P and L = E and they stay so. ``refunded`` 0 leaves the plan as
    priced (nothing reversed); ``refunded`` equal to the principal empties it.
    """
    _check_int(principal, "principal", 1, MAX_AMOUNT)
    _check_int(term, "term", MIN_TERM, MAX_TERM)
    if eligible is None:
        eligible = principal
    else:
        _check_int(eligible, "eligible", 0, principal)
    terms = _terms(
        consumer_rate, merchant_rate, share_bp, purchase_date, statement_day, due_day, rounding
    )
    _check_int(refunded, "refunded", 0, MAX_AMOUNT)
    if refunded > principal:
        raise CalculationError(f"exceeds the principal ({principal})", field="refunded")
    plan = _price(terms, principal, term, eligible, with_apr)
    if refunded == 0:
        return RefundResult(plan=plan, subsidy_reversed=0)
    return _reprice(terms, plan, principal - refunded, principal, eligible, with_apr)


def returned_lines_apply(
    *,
    plan_lines: Sequence[PlanLine],
    returned: Sequence[int] | None = None,
    refund_lines: Sequence[tuple[str, int]],
) -> LinesReturned:
    """Check the lines a refund names as returned and say how much they take off A and L (§3.4).

    ``returned`` holds, per plan line (same order), what earlier refunds already returned of it
    (``None``: nothing yet). Each ``(sku, amount)`` in ``refund_lines`` must match a plan line with the
    same sku that is not fully returned, for at most what remains of it; a sku the plan holds on several
    lines goes to the first such line whose remainder covers the amount. Raises ``CalculationError``
    (field ``lines``) otherwise. Nothing is mutated: the new per-line totals are in the result.
    """
    if returned is None:
        returned = [0] * len(plan_lines)
    if len(returned) != len(plan_lines):
        raise CalculationError("must have one entry per plan line", field="returned")
    remaining = []
    for line, already in zip(plan_lines, returned, strict=True):
        _check_int(line.amount, "plan_lines", 0, MAX_AMOUNT)
        _check_int(already, "returned", 0, line.amount)
        remaining.append(line.amount - already)
    order_reduction = 0
    in_scope_reduction = 0
    for position, (sku, amount) in enumerate(refund_lines, 1):
        _check_int(amount, "lines", 1, MAX_AMOUNT)
        candidates = [
            i for i, line in enumerate(plan_lines) if line.sku == sku and remaining[i] > 0
        ]
        if not candidates:
            raise CalculationError(
                f"line {position}: sku {sku!r} matches no line of the plan that is not yet returned",
                field="lines",
            )
        fitting = [i for i in candidates if remaining[i] >= amount]
        if not fitting:
            most = max(remaining[i] for i in candidates)
            raise CalculationError(
                f"line {position}: amount {amount} exceeds what remains of sku {sku!r} ({most})",
                field="lines",
            )
        index = fitting[0]
        remaining[index] -= amount
        order_reduction += amount
        if plan_lines[index].in_scope:
            in_scope_reduction += amount
    new_returned = tuple(
        line.amount - left for line, left in zip(plan_lines, remaining, strict=True)
    )
    return LinesReturned(order_reduction, in_scope_reduction, new_returned)


# --------------------------------------------------------------------------------------------------
# plan_calc: JSON cases (DESIGN.md §9)

_CASE_KEYS = frozenset(
    {
        "principal",
        "term",
        "consumer_rate",
        "merchant_rate",
        "share_bp",
        "eligible",
        "purchase_date",
        "statement_day",
        "due_day",
        "rounding",
        "refunded",
    }
)
# ASCII only: Decimal() and int() would otherwise accept other scripts' digits, and Decimal accepts
# exponents and NaN, none of which is a rate anyone meant to type.
_DECIMAL_STRING = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def plan_to_dict(plan: PlanPrice) -> dict[str, object]:
    """A plan as JSON-ready values (amounts stay integers, dates ISO strings)."""
    return {
        "principal": plan.principal,
        "term": plan.term,
        "eligible": plan.eligible,
        "consumer_fee_full": plan.consumer_fee_full,
        "waived_fee": plan.waived_fee,
        "consumer_fee": plan.consumer_fee,
        "merchant_subsidy": plan.merchant_subsidy,
        "apr": plan.apr,
        "interest_free": plan.interest_free,
        "total_payable": plan.total_payable,
        "schedule": [
            {
                "period": i.period,
                "due_date": i.due_date.isoformat(),
                "principal": i.principal,
                "fee": i.fee,
                "amount": i.principal + i.fee,
            }
            for i in plan.schedule
        ],
    }


def _case_int(case: Mapping[str, object], key: str) -> int:
    value = case.get(key)
    if value is None:
        raise CalculationError("is required", field=key)
    return _json_int(value, key)


def _case_optional_int(case: Mapping[str, object], key: str) -> int | None:
    value = case.get(key)
    return None if value is None else _json_int(value, key)


def _json_int(value: object, key: str) -> int:
    # JSON integers only: a string, a number with a fraction or a boolean is refused, never coerced.
    if type(value) is not int:
        raise CalculationError(f"must be a JSON integer, got {_json_type(value)}", field=key)
    return value


def _case_rate(case: Mapping[str, object], key: str) -> Decimal:
    if key not in case:
        raise CalculationError("is required", field=key)
    value = case[key]
    if not isinstance(value, str):
        raise CalculationError(
            f'must be a decimal string such as "0.075", got {_json_type(value)}', field=key
        )
    if not _DECIMAL_STRING.fullmatch(value):
        raise CalculationError(
            f'must be a decimal string such as "0.075", got {value!r}', field=key
        )
    return Decimal(value)


def _case_date(case: Mapping[str, object], key: str) -> date:
    if key not in case:
        raise CalculationError("is required", field=key)
    value = case[key]
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise CalculationError(f"must be a date as YYYY-MM-DD, got {value!r}", field=key)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CalculationError(f"is not a valid date: {value!r}", field=key) from None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    return "an array" if isinstance(value, list | tuple) else type(value).__name__


def run_case(case: Mapping[str, object]) -> dict[str, object]:
    """Answer one ``plan_calc`` case (DESIGN.md §9): the priced plan as JSON-ready values.

    Keys: ``principal, term, consumer_rate, merchant_rate, share_bp, eligible?, purchase_date,
    statement_day?, due_day?, rounding?, refunded?``; amounts are JSON integers, rates decimal
    strings, the date ``YYYY-MM-DD``; optional keys may be null. With ``refunded`` the plan is the one
    re-priced after one refund of that amount naming no lines. Raises ``CalculationError`` naming
    the field on any invalid case (unknown keys included, so a typo never silently falls back to a
    default).
    """
    if not isinstance(case, Mapping):
        raise CalculationError(f"a case must be a JSON object, got {_json_type(case)}")
    unknown = sorted(str(k) for k in case if k not in _CASE_KEYS)
    if unknown:
        raise CalculationError(f"unknown key(s): {', '.join(unknown)}")
    principal = _case_int(case, "principal")
    term = _case_int(case, "term")
    share_bp = _case_int(case, "share_bp")
    consumer_rate = _case_rate(case, "consumer_rate")
    merchant_rate = _case_rate(case, "merchant_rate")
    purchase_date = _case_date(case, "purchase_date")
    eligible = _case_optional_int(case, "eligible")
    statement_day = _case_optional_int(case, "statement_day")
    due_day = _case_optional_int(case, "due_day")
    refunded = _case_optional_int(case, "refunded")
    rounding_value = case.get("rounding")
    if rounding_value is None:
        rounding = Rounding.HALF_UP
    elif isinstance(rounding_value, str) and rounding_value in _ROUNDING_VALUES:
        rounding = Rounding(rounding_value)
    else:
        raise _bad_rounding(rounding_value)
    result = reprice_after_refunds_without_lines(
        principal=principal,
        term=term,
        consumer_rate=consumer_rate,
        merchant_rate=merchant_rate,
        share_bp=share_bp,
        eligible=eligible,
        purchase_date=purchase_date,
        statement_day=1 if statement_day is None else statement_day,
        due_day=10 if due_day is None else due_day,
        rounding=rounding,
        refunded=refunded or 0,
    )
    answer = plan_to_dict(result.plan)
    answer["refunded"] = refunded or 0
    answer["subsidy_reversed"] = result.subsidy_reversed
    return answer


def _reject_constant(name: str) -> object:
    raise CalculationError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise CalculationError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_case(line: str) -> object:
    """Parse one JSON line strictly: numbers with a fraction stay ``Decimal`` (never float), NaN and
    Infinity are refused and so are duplicate keys."""
    try:
        return json.loads(
            line,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except CalculationError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CalculationError(f"not valid JSON: {exc}") from None


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def run_lines(lines: Iterable[str]) -> Iterator[str]:
    """Answer JSON lines of cases, one compact JSON line per non-blank input line.

    A line that is not JSON or not a valid case yields ``{"error": "line N: ..."}`` and the rest go on.
    """
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            answer = run_case(parse_case(line))  # type: ignore[arg-type]
        except CalculationError as exc:
            yield _dumps({"error": f"line {number}: {exc}"})
        else:
            yield _dumps(answer)
