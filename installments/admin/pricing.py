"""Operators' pricing controls (DESIGN.md §3.1). A version that is already in force is history:
plans were priced with it, so it becomes read-only; change pricing by adding a version that starts
later. Each fee table has a preview: what it means for a sample price, term by term, priced by the
calculator (``installments.selectors.fee_table_preview``)."""

from __future__ import annotations

from decimal import Decimal, DecimalException, InvalidOperation

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Subquery
from django.db.models.functions import Now
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from installments.ledger import business_date_of
from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings
from installments.selectors import fee_table_preview
from merchants.admin_base import BigTableAdmin, money

# Pricing is the platform's: its limits and thresholds are in the platform's currency.
from merchants.currencies import CURRENCIES, PLATFORM_CURRENCY

SAMPLE_PRICE = 599_900  # ¥5,999.00, the phone of DESIGN.md §3.2's examples


def _in_force(obj: FeeTable | PlatformSettings | MerchantFeeOverride | None) -> bool:
    return obj is not None and obj.pk is not None and obj.effective_from <= timezone.now()


class VersionAdmin(BigTableAdmin):
    """A pricing version: read-only once in force, and it records who made it."""

    form: type[forms.ModelForm]
    readonly_fields = ["created_at", "created_by"]
    list_select_related = ["created_by"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _in_force(obj) and super().has_change_permission(request, obj)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _in_force(obj) and super().has_delete_permission(request, obj)  # type: ignore[arg-type]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="state")
    def state(self, obj: FeeTable | PlatformSettings) -> str:
        if obj.effective_from > timezone.now():
            return "scheduled"
        return "in force" if obj.pk == obj.current_id else "superseded"  # type: ignore[union-attr]

    def _with_current(self, queryset: QuerySet) -> QuerySet:
        """Annotate the id of the version in force now, so ``state`` needs no query per row."""
        current = (
            queryset.model.objects.filter(effective_from__lte=Now())
            .order_by("-effective_from")
            .values("pk")[:1]
        )
        return queryset.annotate(current_id=Subquery(current))


class FutureEffectiveFromForm(forms.ModelForm):
    """New versions start now or later: a version may not rewrite a past that plans were priced in.

    The model's own validation (field validators, unique ``effective_from``, its check
    constraints: rates in [0, 1), limits ordered, an override's window ordered) runs too: Django's
    model forms call ``full_clean``."""

    def clean_effective_from(self):  # type: ignore[no-untyped-def]
        value = self.cleaned_data["effective_from"]
        if value < timezone.now() - timezone.timedelta(minutes=1):
            raise forms.ValidationError("A new version cannot start in the past.")
        return value


class FeeRateInline(admin.TabularInline):
    model = FeeRate
    extra = 0
    min_num = 1
    fields = ["term", "consumer_rate", "merchant_rate", "min_amount", "max_amount"]
    template = "admin/edit_inline/tabular_record.html"

    def get_fields(self, request: HttpRequest, obj: FeeTable | None = None):  # type: ignore[no-untyped-def]
        if _in_force(obj):  # history: shown, amounts formatted
            return ["term", "consumer_rate", "merchant_rate", "minimum", "maximum"]
        return self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: FeeTable | None = None):  # type: ignore[no-untyped-def]
        return ["minimum", "maximum"] if _in_force(obj) else []

    @admin.display(description="minimum financed amount")
    def minimum(self, rate: FeeRate) -> str:
        return money(rate.min_amount, PLATFORM_CURRENCY)

    @admin.display(description="maximum financed amount")
    def maximum(self, rate: FeeRate) -> str:
        return money(rate.max_amount, PLATFORM_CURRENCY)

    def has_change_permission(self, request: HttpRequest, obj: FeeTable | None = None) -> bool:
        return not _in_force(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: FeeTable | None = None) -> bool:
        return not _in_force(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: FeeTable | None = None) -> bool:
        return not _in_force(obj) and super().has_delete_permission(request, obj)

    def formfield_for_dbfield(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("min_amount", "max_amount") and field is not None:
            field.help_text = "minor units (fen): 10000 is ¥100.00"
        return field


def _sample_from(request: HttpRequest) -> tuple[int, str]:
    """The sample price in minor units from ``?amount=5999.00`` (major units), or the default."""
    text = request.GET.get("amount", "").strip()
    exponent = CURRENCIES[PLATFORM_CURRENCY].exponent
    if not text:
        return SAMPLE_PRICE, ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return SAMPLE_PRICE, f"{text!r} is not an amount; showing the default."
    not_positive = f"{text} is not a positive amount in fen; showing the default."
    if not value.is_finite():  # NaN, sNaN (which raises on any arithmetic) and Infinity
        return SAMPLE_PRICE, not_positive
    try:
        minor = value.scaleb(exponent)
        whole = minor == minor.to_integral_value()
    except DecimalException:  # an exponent beyond the context's range ("1E+999999999")
        return SAMPLE_PRICE, not_positive
    if not whole or minor <= 0 or minor > 10**15:
        return SAMPLE_PRICE, not_positive
    return int(minor), ""


@admin.register(FeeTable)
class FeeTableAdmin(VersionAdmin):
    form = FutureEffectiveFromForm
    list_display = ["effective_from", "state", "terms", "note", "created_at", "created_by"]
    inlines = [FeeRateInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FeeTable]:
        return self._with_current(super().get_queryset(request)).prefetch_related("rates")

    def get_readonly_fields(self, request: HttpRequest, obj: FeeTable | None = None):  # type: ignore[no-untyped-def]
        return [*self.readonly_fields, "preview"] if obj is not None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: FeeTable | None = None):  # type: ignore[no-untyped-def]
        fields = ["effective_from", "note", "created_at", "created_by"]
        return [*fields, "preview"] if obj is not None else fields

    @admin.display(description="terms (consumer / merchant rate)")
    def terms(self, table: FeeTable) -> str:
        return ", ".join(
            f"{rate.term}: {rate.consumer_rate.normalize():f} / {rate.merchant_rate.normalize():f}"
            for rate in table.rates.all()
        )

    @admin.display(description="what it means for a sample price")
    def preview(self, table: FeeTable) -> str:
        rows = fee_table_preview(
            fee_table=table, principal=SAMPLE_PRICE, purchase_date=business_date_of(timezone.now())
        )
        url = reverse("admin:installments_feetable_preview", args=[table.pk])
        return render_to_string(
            "admin/installments/feetable/preview_table.html",
            {"rows": _preview_rows(rows), "sample": money(SAMPLE_PRICE, PLATFORM_CURRENCY)},
        ) + format_html('<p><a href="{}">Preview another price…</a></p>', url)

    def get_urls(self):  # type: ignore[no-untyped-def]
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="installments_feetable_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        table = get_object_or_404(FeeTable, pk=pk)
        if not self.has_view_permission(request, table):
            raise PermissionDenied
        principal, error = _sample_from(request)
        rows = fee_table_preview(
            fee_table=table, principal=principal, purchase_date=business_date_of(timezone.now())
        )
        exponent = CURRENCIES[PLATFORM_CURRENCY].exponent
        return TemplateResponse(
            request,
            "admin/installments/feetable/preview.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Preview of the {table}",
                "table": table,
                "rows": _preview_rows(rows),
                "sample": money(principal, PLATFORM_CURRENCY),
                "amount": Decimal(principal).scaleb(-exponent),
                "error": error,
                "opts": self.model._meta,
                "original": table,
            },
        )


def _preview_rows(previews):  # type: ignore[no-untyped-def]
    return [
        {
            "term": p.term,
            "consumer_rate": f"{p.consumer_rate * 100:.2f} %",
            "merchant_rate": f"{p.merchant_rate * 100:.2f} %",
            "limits": format_html(
                "{} – {}",
                money(p.min_amount, PLATFORM_CURRENCY),
                money(p.max_amount, PLATFORM_CURRENCY),
            ),
            "in_limits": p.in_limits,
            "consumer_fee": money(p.consumer_fee, PLATFORM_CURRENCY),
            "apr": p.apr,
            "total_payable": money(p.total_payable, PLATFORM_CURRENCY),
            "installments": format_html(
                "{} then {}",
                money(p.first_installment, PLATFORM_CURRENCY),
                money(p.later_installments, PLATFORM_CURRENCY),
            ),
            "merchant_cost": money(p.merchant_cost_free, PLATFORM_CURRENCY),
            "first_due": p.first_due,
        }
        for p in previews
    ]


@admin.register(MerchantFeeOverride)
class MerchantFeeOverrideAdmin(VersionAdmin):
    form = FutureEffectiveFromForm
    list_display = [
        "merchant",
        "term",
        "consumer_rate",
        "merchant_rate",
        "limits",
        "effective_from",
        "effective_until",
    ]
    list_filter = ["term"]
    search_fields = ["merchant__name"]
    search_help_text = "A merchant's name (or part of it), or its id."
    uuid_search_fields = ["merchant_id"]
    list_select_related = ["merchant", "created_by"]
    raw_id_fields = ["merchant"]

    @admin.display(description="financed amount limits")
    def limits(self, override: MerchantFeeOverride) -> str:
        return format_html(
            "{} – {}",
            money(override.min_amount, override.merchant.currency),
            money(override.max_amount, override.merchant.currency),
        )


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(VersionAdmin):
    form = FutureEffectiveFromForm
    list_display = [
        "effective_from",
        "state",
        "statement_day",
        "due_day",
        "rounding",
        "threshold",
        "note",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlatformSettings]:
        return self._with_current(super().get_queryset(request))

    @admin.display(description="auto-approval threshold")
    def threshold(self, obj: PlatformSettings) -> str:
        return money(obj.auto_approval_threshold, PLATFORM_CURRENCY)
