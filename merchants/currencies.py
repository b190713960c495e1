"""ISO 4217 currencies a merchant may hold, with the number of minor-unit digits of each.

Amounts are integers in minor units everywhere (DESIGN.md §2); the exponent is needed only to display
them (``599900`` CNY is ``¥5,999.00``, ``599900`` JPY is ``¥599,900``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int
    symbol: str


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("CNY", 2, "¥"),
        Currency("HKD", 2, "HK$"),
        Currency("MOP", 2, "MOP$"),
        Currency("TWD", 2, "NT$"),
        Currency("SGD", 2, "S$"),
        Currency("MYR", 2, "RM"),
        Currency("THB", 2, "฿"),
        Currency("USD", 2, "$"),
        Currency("EUR", 2, "€"),
        Currency("GBP", 2, "£"),
        Currency("AUD", 2, "A$"),
        Currency("CAD", 2, "C$"),
        Currency("JPY", 0, "¥"),
        Currency("KRW", 0, "₩"),
        Currency("VND", 0, "₫"),
    )
}

# The platform's own amounts (its pricing's order limits, the campaign auto-approval threshold) are in
# this currency, whatever a merchant's is.
PLATFORM_CURRENCY = "CNY"

CURRENCY_CHOICES = [(code, code) for code in sorted(CURRENCIES)]


def currency_format(amount_minor: int, currency: str) -> str:
    """``599900, "CNY"`` → ``"¥5,999.00"``. Exact: integer arithmetic only."""
    sign = "-" if amount_minor < 0 else ""
    return f"{sign}{CURRENCIES[currency].symbol}{_digits(abs(amount_minor), currency)}"


def currency_format_coded(amount_minor: int, currency: str) -> str:
    """``599900, "CNY"`` → ``"CNY 5,999.00"``: for amounts of several currencies side by side,
    where symbols are ambiguous (CNY and JPY are both ``¥``)."""
    sign = "-" if amount_minor < 0 else ""
    return f"{currency} {sign}{_digits(abs(amount_minor), currency)}"


def _digits(amount_minor: int, currency: str) -> str:
    exponent = CURRENCIES[currency].exponent
    whole, fraction = divmod(amount_minor, 10**exponent)
    text = f"{whole:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    return text
