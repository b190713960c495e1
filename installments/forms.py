"""The back office's refund form. Amounts are typed in major units (``199.00``) and become integer
minor units exactly (Decimal, never a float); the refund itself is ``plans.plan_refund``, the
service the API calls, and its refusals come back as errors on the fields they concern."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext_lazy as _

from backoffice.templatetags.backoffice import money_text
from installments.plan_models import Plan
from merchants.currencies import CURRENCIES
from merchants.errors import DomainError


def _exponent(currency: str) -> int:
    info = CURRENCIES.get(currency)
    return info.exponent if info else 2


def _amount_field(exponent: int, **kwargs: Any) -> forms.DecimalField:
    step = Decimal(1).scaleb(-exponent)
    return forms.DecimalField(
        min_value=step,
        max_digits=18,
        decimal_places=exponent,
        widget=forms.NumberInput(attrs={"step": str(step), "inputmode": "decimal"}),
        **kwargs,
    )


class RefundForm(forms.Form):
    amount = forms.DecimalField()  # replaced per plan in __init__ (the currency's decimals)
    refund_ref = forms.CharField(
        label=_("Refund reference"),
        max_length=128,
        help_text=_("Unique for this merchant; submitting the same reference twice refunds once."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, plan: Plan, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {"refund_ref": f"{plan.merchant_order_ref[:120]}-R{len(plan.refunds.all()) + 1}"},
        )
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.exponent = _exponent(plan.currency)
        self.fields["amount"] = _amount_field(
            self.exponent,
            label=_("Amount to refund"),
            help_text=_("At most %(remaining)s, what is left of the financed amount.")
            % {"remaining": money_text(plan.financed_amount, plan.currency)},
        )
        self.fields["amount"].widget.attrs["max"] = str(
            Decimal(plan.financed_amount).scaleb(-self.exponent)
        )
        # One optional field per basket line that still has something to return.
        self.line_fields: list[tuple[str, str]] = []
        for line in plan.lines.all():
            left = line.amount - line.returned
            if left <= 0:
                continue
            name = f"line_{line.position}"
            self.fields[name] = _amount_field(
                self.exponent,
                required=False,
                max_value=Decimal(left).scaleb(-self.exponent),
                label=_("Returned %(sku)s (%(category)s)")
                % {"sku": line.sku, "category": line.category or "—"},
                help_text=_("Up to %(left)s") % {"left": money_text(left, plan.currency)},
            )
            self.line_fields.append((name, line.sku))

    def _minor(self, value: Decimal) -> int:
        return int(value.scaleb(self.exponent))

    @property
    def amount_minor(self) -> int:
        return self._minor(self.cleaned_data["amount"])

    @property
    def returned_lines(self) -> list[tuple[str, int]] | None:
        lines = [
            (sku, self._minor(self.cleaned_data[name]))
            for name, sku in self.line_fields
            if self.cleaned_data.get(name)
        ]
        return lines or None

    def line_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name, _sku in self.line_fields]

    def add_domain_error(self, error: DomainError) -> None:
        """Show a refusal of ``plan_refund`` on the field it concerns."""
        if error.code == "refund_exceeds_balance":
            self.add_error(
                "amount",
                _("More than what is left to refund (%(left)s).")
                % {"left": money_text(error.extra.get("remaining", 0), self.plan.currency)},
            )
        elif error.code == "duplicate_refund_ref":
            self.add_error("refund_ref", _("A refund with this reference already exists."))
        elif error.errors:
            for field, messages in error.errors.items():
                target = field if field in self.fields else NON_FIELD_ERRORS
                for message in messages:
                    self.add_error(None if target == NON_FIELD_ERRORS else target, message)
        else:
            self.add_error(None, error.message)
