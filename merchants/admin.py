"""Operators onboard merchants, freeze and unfreeze them (with a reason, recorded) and see their
stores, members and API keys. Writes go through ``merchants.services``."""

from __future__ import annotations

import contextlib
import uuid
import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse

from installments.reconcile import reconcile
from merchants.admin_base import (
    BigTableAdmin,
    ImmutableInline,
    ReasonForm,
    reason_form_response,
    reconcile_response,
)
from merchants.errors import DomainError
from merchants.models import ApiKey, Membership, Merchant, MerchantStatusEvent, Store
from merchants.services import merchant_create, merchant_freeze, merchant_unfreeze


class StoreInline(admin.TabularInline):
    model = Store
    extra = 0
    fields = ["code", "name", "city", "active"]
    show_change_link = True

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # stores are deactivated, never deleted


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]


class ApiKeyInline(ImmutableInline):
    """Keys are issued by merchant owners (or ``apikey_create``); operators only see them."""

    model = ApiKey
    fields = ["prefix", "mode", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields


class MerchantStatusEventInline(ImmutableInline):
    """Every freeze and unfreeze: who, when and why."""

    model = MerchantStatusEvent
    fields = ["created_at", "action", "reason", "actor_label"]
    readonly_fields = fields
    verbose_name = "freeze / unfreeze"
    verbose_name_plural = "freezes and unfreezes"


class MerchantAdminForm(forms.ModelForm):
    class Meta:
        model = Merchant
        fields = ["name", "legal_name", "currency", "timezone", "paid_terms_disabled"]

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"]
        if name not in zoneinfo.available_timezones():
            raise forms.ValidationError(
                "Unknown time zone (use an IANA name such as Asia/Shanghai)."
            )
        return name

    def clean_paid_terms_disabled(self) -> list[int]:
        terms = self.cleaned_data["paid_terms_disabled"] or []
        if any(not 2 <= term <= 36 for term in terms):
            raise forms.ValidationError("Terms are whole numbers from 2 to 36.")
        return sorted(set(terms))


@admin.register(Merchant)
class MerchantAdmin(BigTableAdmin):
    form = MerchantAdminForm
    list_display = ["name", "id", "status", "currency", "timezone", "created_at"]
    list_filter = ["status", "currency"]
    # Searched by get_search_results: a merchant id, a store code (exact), or the name.
    search_fields = ["name"]
    search_help_text = "A merchant's name (or part of it), its id, or one of its store codes."
    inlines = [MerchantStatusEventInline, StoreInline, MembershipInline, ApiKeyInline]
    actions = ["freeze", "unfreeze", "reconcile_books"]
    RECONCILE_AT_ONCE = 50  # one merchant's checks each; more at once is the all-books check

    def get_fields(self, request: HttpRequest, obj: Merchant | None = None) -> list[str]:
        if obj is None:
            return ["name", "legal_name", "currency", "timezone"]
        return [
            "id",
            "name",
            "legal_name",
            "currency",
            "timezone",
            "paid_terms_disabled",
            "status",
            "frozen_reason",
            "frozen_at",
            "created_at",
            "updated_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Merchant | None = None) -> list[str]:
        if obj is None:
            return []
        # A merchant's currency is in its plans, budgets and statements: it never changes.
        return [
            "id",
            "currency",
            "status",
            "frozen_reason",
            "frozen_at",
            "created_at",
            "updated_at",
        ]

    def get_inlines(self, request: HttpRequest, obj: Merchant | None):  # type: ignore[no-untyped-def]
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # merchants are frozen, never deleted

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("installments.view_ledgerentry")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Merchant], search_term: str
    ) -> tuple[QuerySet[Merchant], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(name__icontains=term) | Q(legal_name__icontains=term)
        condition |= Exists(Store.objects.filter(merchant=OuterRef("pk"), code__iexact=term))
        with contextlib.suppress(ValueError):
            condition |= Q(pk=uuid.UUID(term))
        # One EXISTS, never a join: no duplicates, so no DISTINCT over the merchants table.
        return queryset.filter(condition), False

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        created = merchant_create(
            name=obj.name,
            legal_name=obj.legal_name,
            currency=obj.currency,
            timezone_name=obj.timezone,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def _status_action(
        self, request: HttpRequest, queryset: QuerySet[Merchant], *, freeze: bool
    ) -> HttpResponse | None:
        action = "freeze" if freeze else "unfreeze"
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = 0
            for merchant in queryset:
                service = merchant_freeze if freeze else merchant_unfreeze
                try:
                    service(
                        merchant=merchant, reason=form.cleaned_data["reason"], actor=request.user
                    )
                except DomainError as exc:
                    self.message_user(request, f"{merchant}: {exc.message}", messages.ERROR)
                else:
                    done += 1
                    self.log_change(request, merchant, f"{action}: {form.cleaned_data['reason']}")
            if done:
                self.message_user(
                    request,
                    f"{'Froze' if freeze else 'Unfroze'} {done} merchant(s).",
                    messages.WARNING if freeze else messages.SUCCESS,
                )
            return None
        return reason_form_response(
            model_admin=self,
            request=request,
            queryset=queryset,
            action=action,
            title=f"{action.capitalize()} merchants",
            explanation=(
                "Frozen merchants' campaigns stop being offered and they can start nothing new; "
                "voids, refunds and reads keep working. Say why: the reason is recorded."
                if freeze
                else "Their campaigns are offered again. Say why: the reason is recorded."
            ),
            form=form,
            button=action.capitalize(),
        )

    @admin.action(
        description="Freeze the selected merchants (reason required)", permissions=["change"]
    )
    def freeze(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> HttpResponse | None:
        return self._status_action(request, queryset, freeze=True)

    @admin.action(
        description="Unfreeze the selected merchants (reason required)", permissions=["change"]
    )
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> HttpResponse | None:
        return self._status_action(request, queryset, freeze=False)

    @admin.action(description="Reconcile the selected merchants' books", permissions=["reconcile"])
    def reconcile_books(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> HttpResponse:
        merchants = list(queryset[: self.RECONCILE_AT_ONCE + 1])
        if len(merchants) > self.RECONCILE_AT_ONCE:
            self.message_user(
                request,
                f"Reconciled the first {self.RECONCILE_AT_ONCE} merchants only; "
                "use “Reconcile the books” on the settlement runs page for everyone.",
                messages.WARNING,
            )
        scopes = [
            (f"{merchant.name} ({merchant.pk})", reconcile(merchant_id=merchant.pk))
            for merchant in merchants[: self.RECONCILE_AT_ONCE]
        ]
        return reconcile_response(model_admin=self, request=request, scopes=scopes)


@admin.register(Store)
class StoreAdmin(BigTableAdmin):
    list_display = ["code", "name", "merchant", "city", "active"]
    list_filter = ["active"]
    search_fields = ["=code", "name", "city"]
    search_help_text = "A store code (exactly), a name or city, or the merchant's id."
    uuid_search_fields = ["merchant_id"]
    list_select_related = ["merchant"]
    raw_id_fields = ["merchant"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # stores are deactivated, never deleted


@admin.register(Membership)
class MembershipAdmin(BigTableAdmin):
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]
    search_help_text = "A username or e-mail, or the merchant's id."
    uuid_search_fields = ["merchant_id"]
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["user", "merchant"]


@admin.register(ApiKey)
class ApiKeyAdmin(BigTableAdmin):
    list_display = ["prefix", "merchant", "mode", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["mode"]
    search_fields = ["=prefix"]
    search_help_text = "A key prefix (exactly), or the merchant's id."
    uuid_search_fields = ["merchant_id"]
    list_select_related = ["merchant"]
    readonly_fields = [
        "merchant",
        "name",
        "mode",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "created_by",
    ]
    exclude = ["secret_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # owners issue and revoke keys in the back office

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


admin.site.site_header = "Installments — operators' console"
admin.site.site_title = "Operators' console"
admin.site.index_title = "Merchants, pricing, campaign review, plans, the ledger and settlement"
