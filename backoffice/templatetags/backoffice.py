"""Template filters of the back office: amounts, rates, labels and status badges, localised."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.forms import BoundField
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from backoffice.labels import TONES, label
from merchants.currencies import CURRENCIES

register = template.Library()


def money_text(amount_minor: int | None, currency: str) -> str:
    """``599900, "CNY"`` → ``¥5,999.00`` with the active language's separators. Exact: the minor
    units are shifted as a Decimal, never through a float."""
    if amount_minor is None or amount_minor == "":
        return "—"
    info = CURRENCIES.get(currency)
    exponent, symbol = (info.exponent, info.symbol) if info else (2, f"{currency} ")
    value = Decimal(int(amount_minor)).scaleb(-exponent)
    text = number_format(abs(value), decimal_pos=exponent, use_l10n=True, force_grouping=True)
    return f"{'-' if value < 0 else ''}{symbol}{text}"


@register.filter
def money(amount_minor: int | None, currency: str) -> str:
    return money_text(amount_minor, currency)


@register.filter
def share_bp(basis_points: int | None) -> str:
    """``5000`` → ``50%``; ``1250`` → ``12.5%``."""
    if basis_points is None:
        return "—"
    value = (Decimal(basis_points) / 100).normalize()
    places = max(0, -value.as_tuple().exponent)  # type: ignore[operator]
    return f"{number_format(value, decimal_pos=places, use_l10n=True)}%"


@register.filter
def rate_percent(rate: Decimal | None) -> str:
    """A rate as a percentage with two decimals: ``Decimal("0.075")`` → ``7.50%``."""
    if rate is None:
        return "—"
    return f"{number_format(Decimal(rate) * 100, decimal_pos=2, use_l10n=True)}%"


@register.filter(name="label")
def label_filter(code: str, kind: str) -> str:
    return label(kind, code)


@register.simple_tag
def badge(code: str, kind: str) -> SafeString:
    """A status badge: its colour from the code, its text translated."""
    return format_html(
        '<span class="badge badge-{}">{}</span>', TONES.get(code, "muted"), label(kind, code)
    )


@register.filter
def ratio_percent(part: int | None, whole: int | None) -> int:
    """How much of ``whole`` ``part`` is, in whole percent (0–100), for meters."""
    if not whole or part is None:
        return 0
    return max(0, min(100, round(part * 100 / whole)))


@register.simple_tag
def field_input(field: BoundField, **attrs: str) -> SafeString:
    """The field's widget, tied to its help text and errors for assistive technology
    (``aria-describedby``, ``aria-invalid``); ids match ``backoffice/_field.html``."""
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_helptext")
    if field.errors:
        described.append(f"{field.auto_id}_errors")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)


@register.filter
def bp_of(amount: int | None, basis_points: int | None) -> int:
    """``basis_points`` of ``amount``, rounded down: the alert line of a budget, for meters."""
    if not amount or not basis_points:
        return 0
    return int(amount) * int(basis_points) // 10_000


@register.filter
def ratio_bp(part: int | None, whole: int | None) -> int:
    """How much of ``whole`` ``part`` is, in basis points (0 when ``whole`` is 0)."""
    if not whole or part is None:
        return 0
    return int(part) * 10_000 // int(whole)


@register.filter
def share_bp_whole(basis_points: int | None) -> str:
    """Basis points as a percentage with one decimal at most: ``6250`` → ``62.5%``."""
    if basis_points is None:
        return "—"
    value = (Decimal(int(basis_points)) / 100).quantize(Decimal("0.1"))
    if value == value.to_integral():
        value = value.quantize(Decimal(1))
    return f"{number_format(value, use_l10n=True)}%"


@register.filter
def bp_as_percent(basis_points: int | None) -> str:
    """Basis points as an SVG length out of 100: ``6250`` → ``62.50``."""
    return f"{max(0, min(10_000, int(basis_points or 0))) / 100:.2f}"
