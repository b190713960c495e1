from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from merchants.errors import DomainError
from merchants.models import ApiKey, Membership, Merchant, Store
from merchants.services import merchant_freeze, merchant_unfreeze


class StoreInline(admin.TabularInline):
    model = Store
    extra = 0
    fields = ["code", "name", "city", "active"]
    show_change_link = True


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]


class ApiKeyInline(admin.TabularInline):
    """Keys are issued by merchant owners (or ``apikey_create``); operators only see them."""

    model = ApiKey
    extra = 0
    fields = ["prefix", "mode", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MerchantAdminForm(forms.ModelForm):
    freeze_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="To freeze this merchant, say why and save. Its campaigns stop being offered and "
        "it can start nothing new; voids, refunds and reads keep working.",
    )

    class Meta:
        model = Merchant
        fields = ["name", "legal_name", "currency", "timezone", "paid_terms_disabled"]

    def clean_timezone(self) -> str:
        import zoneinfo

        name = self.cleaned_data["timezone"]
        if name not in zoneinfo.available_timezones():
            raise forms.ValidationError(
                "Unknown time zone (use an IANA name such as Asia/Shanghai)."
            )
        return name


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    form = MerchantAdminForm
    list_display = ["name", "id", "status", "currency", "timezone", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["name", "legal_name", "=id", "stores__code"]
    readonly_fields = ["id", "status", "frozen_reason", "frozen_at", "created_at", "updated_at"]
    fields = [
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
    inlines = [StoreInline, MembershipInline, ApiKeyInline]
    actions = ["unfreeze"]
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # merchants are frozen, never deleted

    @admin.action(description="Unfreeze the selected merchants")
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        for merchant in queryset:
            merchant_unfreeze(merchant=merchant)
        self.message_user(request, f"Unfroze {queryset.count()} merchant(s).", messages.SUCCESS)

    def get_fields(self, request: HttpRequest, obj: Merchant | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is not None and not obj.is_frozen:
            fields.append("freeze_reason")
        return fields

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        reason = form.cleaned_data.get("freeze_reason", "")
        if change and reason:
            try:
                merchant_freeze(merchant=obj, reason=reason)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{obj} is frozen.", messages.WARNING)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "merchant", "city", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "city", "merchant__name"]
    list_select_related = ["merchant"]
    raw_id_fields = ["merchant"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "merchant__name"]
    list_select_related = ["user", "merchant"]
    raw_id_fields = ["user", "merchant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "merchant", "mode", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["mode"]
    search_fields = ["prefix", "merchant__name"]
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
