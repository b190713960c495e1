"""Operators review campaigns here; approve and reject call the same services as everything else."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from campaigns.models import Campaign, CampaignEvent, CampaignStatus, Offer
from campaigns.services import (
    Actor,
    campaign_approve,
    campaign_budget_raise_review,
    campaign_reject,
)
from merchants.currencies import currency_format
from merchants.errors import DomainError


class OfferInline(admin.TabularInline):
    model = Offer
    extra = 0
    fields = ["term", "merchant_share_bp", "min_amount"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class CampaignEventInline(admin.TabularInline):
    model = CampaignEvent
    extra = 0
    fields = ["created_at", "action", "actor_label", "reason", "before", "after"]
    readonly_fields = fields
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "merchant",
        "status",
        "starts_at",
        "ends_at",
        "budget",
        "used",
        "pending_budget",
        "submitted_at",
    ]
    list_filter = ["status", ("merchant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "=id", "merchant__name", "=merchant__id"]
    list_select_related = ["merchant"]
    inlines = [OfferInline, CampaignEventInline]
    actions = ["approve", "reject", "approve_budget_raise", "reject_budget_raise"]
    show_full_result_count = False
    readonly_fields = [f.name for f in Campaign._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        # The review queue first: submitted campaigns and pending raises, oldest first.
        return (
            super()
            .get_queryset(request)
            .annotate(
                review_first=Case(
                    When(status=CampaignStatus.SUBMITTED, then=Value(0)),
                    When(pending_budget_total__isnull=False, then=Value(1)),
                    default=Value(2),
                    output_field=IntegerField(),
                )
            )
            .order_by("review_first", "submitted_at", "-created_at")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # merchants define campaigns

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="budget")
    def budget(self, obj: Campaign) -> str:
        return currency_format(obj.budget_total, obj.merchant.currency)

    @admin.display(description="used")
    def used(self, obj: Campaign) -> str:
        return currency_format(obj.budget_used, obj.merchant.currency)

    @admin.display(description="pending raise")
    def pending_budget(self, obj: Campaign) -> str:
        if obj.pending_budget_total is None:
            return "—"
        return currency_format(obj.pending_budget_total, obj.merchant.currency)

    def _each(self, request: HttpRequest, queryset: QuerySet[Campaign], service, **kwargs) -> None:  # type: ignore[no-untyped-def]
        done, failed = 0, []
        actor = Actor.operator(request.user)
        for campaign in queryset:
            try:
                service(campaign=campaign, actor=actor, **kwargs)
                done += 1
            except DomainError as exc:
                failed.append(f"{campaign.name}: {exc.message}")
        if done:
            self.message_user(request, f"{done} campaign(s) done.", messages.SUCCESS)
        for failure in failed:
            self.message_user(request, failure, messages.ERROR)

    @admin.action(description="Approve the selected submitted campaigns")
    def approve(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, campaign_approve)

    @admin.action(description="Reject the selected submitted campaigns (reason required)")
    def reject(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = RejectForm(request.POST)
            if form.is_valid():
                self._each(request, queryset, campaign_reject, reason=form.cleaned_data["reason"])
                return None
        else:
            form = RejectForm()
        return TemplateResponse(
            request,
            "admin/campaigns/reject.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject campaigns",
                "campaigns": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Approve the pending budget raise")
    def approve_budget_raise(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, campaign_budget_raise_review, approve=True)

    @admin.action(description="Turn down the pending budget raise")
    def reject_budget_raise(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(
            request,
            queryset,
            campaign_budget_raise_review,
            approve=False,
            reason="Turned down by an operator in the admin.",
        )
