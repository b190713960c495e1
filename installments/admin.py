"""Operators' pricing controls. A version that is already in force is history: plans were priced
with it, so it becomes read-only; change pricing by adding a version that starts later."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from installments.models import FeeRate, FeeTable, MerchantFeeOverride, PlatformSettings


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
