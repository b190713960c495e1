"""Operators onboard merchants, freeze and unfreeze them (with a reason, recorded) and see their
stores, members and API keys. Writes go through ``merchants.services``: members are added,
re-roled and removed by the membership services, so a merchant keeps at least one owner whatever
page the change comes from.

Users (operators' accounts) use Django's ``UserAdmin`` with two limits for anyone but a superuser:
superuser status, groups and permissions are read-only, and a superuser's or a merchant member's
account cannot be changed at all (members manage their own accounts in the back office)."""

from __future__ import annotations

import contextlib
import uuid
import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

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
from merchants.services import (
    membership_remove,
    membership_role_change,
    membership_set,
    merchant_create,
    merchant_freeze,
    merchant_unfreeze,
)

LAST_OWNER = "A merchant must keep at least one owner: make another member its owner first."


class DomainErrorsAsMessages(admin.ModelAdmin):
    """A service's refusal raised while the admin saves or deletes (``DomainError``, for example
    a concurrent change that would leave a merchant without an owner): the admin's transaction
    rolls back and the operator sees the service's message on the page, never a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):  # type: ignore[no-untyped-def]
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):  # type: ignore[no-untyped-def]
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            opts = self.opts
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            return HttpResponseRedirect(url)


def _keeps_an_owner(*, merchant_id: uuid.UUID, losing: set[int], gaining: int) -> bool:
    """Whether a merchant that loses the owners ``losing`` (membership ids) and gains ``gaining``
    owners still has one. A merchant that has none yet (just onboarded) loses nothing.

    The form-level check that lets the admin show the rule as a form error; the membership
    services check it again under a lock on the merchant when the change is saved."""
    owners = set(
        Membership.objects.filter(merchant_id=merchant_id, role=Membership.Role.OWNER).values_list(
            "pk", flat=True
        )
    )
    return not owners or bool(owners - losing) or gaining > 0


def _membership_changes_save(
    *,
    merchant: Merchant,
    added: list[Membership],
    changed: list[Membership],
    removed: list[Membership],
) -> None:
    """Save an admin page's membership changes through the services, owners gained before owners
    lost, so swapping owners in one save never leaves the merchant without one in between."""
    for membership in added:
        saved = membership_set(merchant=merchant, user=membership.user, role=membership.role)
        membership.pk = saved.pk
        membership.created_at = saved.created_at
    promoted = [m for m in changed if m.role == Membership.Role.OWNER]
    demoted = [m for m in changed if m.role != Membership.Role.OWNER]
    for membership in promoted + demoted:
        membership_role_change(merchant=merchant, membership_id=membership.pk, role=membership.role)
    for membership in removed:
        membership_remove(merchant=merchant, user=membership.user)


class StoreInline(admin.TabularInline):
    model = Store
    extra = 0
    fields = ["code", "name", "city", "active"]
    show_change_link = True

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # stores are deactivated, never deleted


class MembershipForm(forms.ModelForm):
    """A membership is one user at one merchant: once made, only its role changes (giving an
    owner's row to someone else would remove that owner without the last-owner check)."""

    class Meta:
        model = Membership
        fields = ["merchant", "user", "role"]

    checks_last_owner = True

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            for name in ("merchant", "user"):
                if name in self.fields:
                    self.fields[name].disabled = True

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        was_owner = (
            self.instance.pk is not None and self.initial.get("role") == Membership.Role.OWNER
        )
        if (
            self.checks_last_owner
            and was_owner
            and role != Membership.Role.OWNER
            and not _keeps_an_owner(
                merchant_id=self.instance.merchant_id, losing={self.instance.pk}, gaining=0
            )
        ):
            raise forms.ValidationError(LAST_OWNER)
        return role


class InlineMembershipForm(MembershipForm):
    checks_last_owner = False  # MembershipFormSet checks the merchant's rows together


class MembershipFormSet(BaseInlineFormSet):
    """The merchant page's members, checked together: demoting or removing owners is refused when
    no owner would be left (a new owner in the same save counts)."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        losing: set[int] = set()
        gaining = 0
        for form in self.forms:
            if not hasattr(form, "cleaned_data"):
                continue
            existing = form.instance.pk is not None
            if not existing and not form.has_changed():
                continue  # an empty extra row
            was_owner = existing and form.initial.get("role") == Membership.Role.OWNER
            deleted = self.can_delete and self._should_delete_form(form)
            owner_after = not deleted and form.cleaned_data.get("role") == Membership.Role.OWNER
            if was_owner and not owner_after:
                losing.add(form.instance.pk)
            elif owner_after and not was_owner:
                gaining += 1
        if losing and not _keeps_an_owner(
            merchant_id=self.instance.pk, losing=losing, gaining=gaining
        ):
            raise forms.ValidationError(LAST_OWNER)


class MembershipInline(admin.TabularInline):
    model = Membership
    form = InlineMembershipForm
    formset = MembershipFormSet
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
class MerchantAdmin(DomainErrorsAsMessages, BigTableAdmin):
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

    def save_formset(self, request, form, formset, change):  # type: ignore[no-untyped-def]
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)  # fills new_objects, changed_objects, deleted_objects
        _membership_changes_save(
            merchant=form.instance,
            added=formset.new_objects,
            changed=[m for m, fields in formset.changed_objects if "role" in fields],
            removed=formset.deleted_objects,
        )

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
class MembershipAdmin(DomainErrorsAsMessages, BigTableAdmin):
    form = MembershipForm
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]
    search_help_text = "A username or e-mail, or the merchant's id."
    uuid_search_fields = ["merchant_id"]
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["user", "merchant"]
    actions = ["delete_selected"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        _membership_changes_save(
            merchant=obj.merchant,
            added=[] if change else [obj],
            changed=[obj] if change and "role" in form.changed_data else [],
            removed=[],
        )

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(merchant=obj.merchant, user=obj.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("merchant", "user"):
            membership_remove(merchant=membership.merchant, user=membership.user)

    @admin.action(
        description="Delete selected members (a merchant keeps at least one owner)",
        permissions=["delete"],
    )
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Membership]):  # type: ignore[no-untyped-def]
        """Django's delete action (with its confirmation page), all or nothing: when one of the
        removals would leave a merchant without an owner, none is made."""
        try:
            with transaction.atomic():
                return django_delete_selected(self, request, queryset)
        except DomainError as exc:
            self.message_user(request, f"Nothing was deleted: {exc.message}", messages.ERROR)
            return None


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


User = get_user_model()


def _holds_a_membership(user: object) -> bool:
    if not hasattr(user, "_holds_a_membership"):
        user._holds_a_membership = Membership.objects.filter(user=user).exists()  # type: ignore[attr-defined]
    return user._holds_a_membership  # type: ignore[attr-defined]


admin.site.unregister(User)


@admin.register(User)
class OperatorUserAdmin(UserAdmin):
    """Operators' accounts. An ``admin``-group operator adds accounts and edits names, e-mail,
    active and staff status and passwords, but only a superuser grants superuser status, groups
    or permissions (otherwise an operator could make themselves superuser), and only a superuser
    changes a superuser's account or a merchant member's (a password reset would hand the
    member's back office, and the merchant's money settings, to the operator)."""

    PRIVILEGES = ["is_superuser", "groups", "user_permissions"]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None):  # type: ignore[no-untyped-def]
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in self.PRIVILEGES if name not in fields]
        return fields

    def _only_a_superuser_changes(self, request: HttpRequest, obj: object) -> bool:
        return (
            obj is not None
            and not request.user.is_superuser
            and (obj.is_superuser or _holds_a_membership(obj))  # type: ignore[attr-defined]
        )

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        if self._only_a_superuser_changes(request, obj):
            return False  # the page (and the password form) become read-only: 403 on POST
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        if self._only_a_superuser_changes(request, obj):
            return False
        return super().has_delete_permission(request, obj)


admin.site.site_header = "Installments — operators' console"
admin.site.site_title = "Operators' console"
admin.site.index_title = "Merchants, pricing, campaign review, plans, the ledger and settlement"
