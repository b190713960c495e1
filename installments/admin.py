"""Operators' pricing controls. A version that is already in force is history: plans were priced
with it, so it becomes read-only; change pricing by adding a version that starts later."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from installments.models import (
    FeeRate,
    FeeTable,
    MerchantFeeOverride,
    PlatformSettings,
    SettlementBatch,
    SettlementRun,
    Statement,
    StatementLine,
)
from installments.settlement import (
    settlement_run_for_date,
    settlement_today,
    statement_csv_response,
)


def _in_force(obj: FeeTable | PlatformSettings | MerchantFeeOverride | None) -> bool:
    return obj is not None and obj.pk is not None and obj.effective_from <= timezone.now()


class VersionAdmin(admin.ModelAdmin):
    """A pricing version: read-only once in force, and it records who made it."""

    form: type[forms.ModelForm]
    readonly_fields = ["created_at", "created_by"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _in_force(obj) and super().has_change_permission(request, obj)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return not _in_force(obj) and super().has_delete_permission(request, obj)  # type: ignore[arg-type]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class FutureEffectiveFromForm(forms.ModelForm):
    """New versions start now or later: a version may not rewrite a past that plans were priced in."""

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

    def has_change_permission(self, request: HttpRequest, obj: FeeTable | None = None) -> bool:
        return not _in_force(obj) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: FeeTable | None = None) -> bool:
        return not _in_force(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: FeeTable | None = None) -> bool:
        return not _in_force(obj) and super().has_delete_permission(request, obj)


@admin.register(FeeTable)
class FeeTableAdmin(VersionAdmin):
    form = FutureEffectiveFromForm
    list_display = ["effective_from", "note", "created_at", "created_by"]
    inlines = [FeeRateInline]


@admin.register(MerchantFeeOverride)
class MerchantFeeOverrideAdmin(VersionAdmin):
    form = FutureEffectiveFromForm
    list_display = [
        "merchant",
        "term",
        "consumer_rate",
        "merchant_rate",
        "effective_from",
        "effective_until",
    ]
    list_filter = ["term"]
    search_fields = ["merchant__name", "=merchant__id"]
    list_select_related = ["merchant"]
    raw_id_fields = ["merchant"]


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(VersionAdmin):
    form = FutureEffectiveFromForm
    list_display = [
        "effective_from",
        "statement_day",
        "due_day",
        "rounding",
        "auto_approval_threshold",
        "note",
    ]


# --------------------------------------------------------------------------------------------------
# Settlement (DESIGN.md §7): runs are started here or by `settle`; statements never change.


class SettlementRunForm(forms.ModelForm):
    class Meta:
        model = SettlementRun
        fields = ["business_date", "merchant"]
        help_texts = {
            "business_date": "Any date up to today (Asia/Shanghai). Merchants that already have a "
            "statement dated this day or later are left as they are.",
            "merchant": "Leave empty to settle every merchant.",
        }

    def clean_business_date(self):  # type: ignore[no-untyped-def]
        value = self.cleaned_data["business_date"]
        if value > settlement_today():
            raise forms.ValidationError("A date in the future cannot be settled.")
        return value


class SettlementBatchInline(admin.TabularInline):
    model = SettlementBatch
    extra = 0
    can_delete = False
    fields = ["position", "status", "attempts", "statements_created", "started_at", "error"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SettlementRun)
class SettlementRunAdmin(admin.ModelAdmin):
    form = SettlementRunForm
    list_display = [
        "business_date",
        "merchant",
        "status",
        "progress",
        "merchants_failed",
        "statements_created",
        "net",
        "duration",
        "requested_by",
        "started_at",
    ]
    list_filter = ["status", "business_date"]
    date_hierarchy = "business_date"
    raw_id_fields = ["merchant"]
    inlines = [SettlementBatchInline]
    actions = ["rerun"]

    def get_readonly_fields(self, request: HttpRequest, obj: SettlementRun | None = None):  # type: ignore[no-untyped-def]
        if obj is None:
            return []
        return [f.name for f in SettlementRun._meta.fields] + ["progress", "duration"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)  # type: ignore[arg-type]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="merchants done")
    def progress(self, run: SettlementRun) -> str:
        return f"{run.merchants_done} / {run.merchants_total}"

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        # A run is made by the service (it lists merchants and fans out batches), never saved raw.
        run = settlement_run_for_date(
            business_date=obj.business_date,
            merchant_id=obj.merchant_id,
            requested_by=request.user.get_username(),
        )
        obj.pk = run.pk
        obj.refresh_from_db()

    @admin.action(description="Re-run the dates (and merchants) of the selected runs")
    def rerun(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        for run in queryset:
            settlement_run_for_date(
                business_date=run.business_date,
                merchant_id=run.merchant_id,
                requested_by=request.user.get_username(),
            )
        self.message_user(request, f"Started {queryset.count()} run(s).")


class StatementLineInline(admin.TabularInline):
    model = StatementLine
    extra = 0
    can_delete = False
    fields = [
        "campaign_name",
        "campaign",
        "adjustment",
        "plans_charged",
        "charges",
        "reversals",
        "net",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = [
        "business_date",
        "merchant",
        "currency",
        "plans_charged",
        "charges",
        "reversals",
        "net",
        "csv",
    ]
    list_filter = ["business_date", "currency"]
    date_hierarchy = "business_date"
    search_fields = ["merchant__name", "=merchant__id"]
    list_select_related = ["merchant"]
    inlines = [StatementLineInline]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None):  # type: ignore[no-untyped-def]
        return [f.name for f in Statement._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="CSV")
    def csv(self, statement: Statement) -> str:
        url = reverse("admin:installments_statement_csv", args=[statement.pk])
        return format_html('<a href="{}">CSV</a>', url)

    def get_urls(self):  # type: ignore[no-untyped-def]
        return [
            path(
                "<uuid:pk>/csv/",
                self.admin_site.admin_view(self.csv_view),
                name="installments_statement_csv",
            ),
            *super().get_urls(),
        ]

    def csv_view(self, request: HttpRequest, pk: str) -> HttpResponse:
        statement = get_object_or_404(Statement, pk=pk)
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        return statement_csv_response(statement)
