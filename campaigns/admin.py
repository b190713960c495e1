"""Operators review campaigns here; approve and reject call the same services as everything else."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from campaigns.models import Campaign, CampaignEvent, CampaignStatus, Offer
from campaigns.selectors import campaign_budget_figures, campaign_shown_state
from campaigns.services import (
    Actor,
    campaign_approve,
    campaign_budget_raise_review,
    campaign_reject,
)
from merchants.admin_base import BigTableAdmin, ImmutableInline, money
from merchants.errors import DomainError


class OfferInline(ImmutableInline):
    model = Offer
    fields = ["term", "merchant_share_bp", "minimum"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Offer]:
        return super().get_queryset(request).select_related("merchant")

    @admin.display(description="minimum financed amount")
    def minimum(self, offer: Offer) -> str:
        return money(offer.min_amount, offer.merchant.currency)


class CampaignEventInline(ImmutableInline):
    """The audit trail: every change, who made it, when, and the state before and after."""

    model = CampaignEvent
    fields = ["created_at", "action", "actor_label", "reason", "before", "after"]
    readonly_fields = fields
    ordering = ["created_at", "id"]
    verbose_name_plural = "audit trail"


class RejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True)


@admin.register(Campaign)
class CampaignAdmin(BigTableAdmin):
    """The review queue: submitted campaigns and pending budget raises first, oldest first.

    Every field is read-only (merchants define campaigns); "review" — approve, reject with a
    reason, approve or turn down a budget raise — is an action calling the campaign services, for
    operators holding ``campaigns.change_campaign`` (the reviewer and admin groups)."""

    list_display = [
        "name",
        "merchant",
        "status",
        "starts_at",
        "ends_at",
        "budget",
        "used",
        "usage",
        "pending_budget",
        "submitted_at",
    ]
    list_filter = ["status"]
    search_fields = ["name"]
    search_help_text = "A campaign's name (or part of it), its id, or its merchant's id."
    list_select_related = ["merchant"]
    inlines = [OfferInline, CampaignEventInline]
    actions = ["approve", "reject", "approve_budget_raise", "reject_budget_raise"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "merchant",
                    "name",
                    "description",
                    "status",
                    "shown_state",
                    "starts_at",
                    "ends_at",
                    "submitted_at",
                    "reviewed_at",
                    "rejection_reason",
                    "created_by",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        (
            "Budget",
            {
                "fields": [
                    "budget",
                    "used",
                    "usage",
                    "remaining",
                    "used_today",
                    "daily_cap_shown",
                    "pending_budget",
                    "alert_threshold_bp",
                    "alert_emails",
                    "per_consumer_limit",
                ]
            },
        ),
        (
            "Scope",
            {
                "fields": [
                    "all_products",
                    "categories",
                    "skus",
                    "exclude_skus",
                    "stores",
                    "channels",
                    "order_limits",
                    "stacks_with_government_subsidy",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None):  # type: ignore[no-untyped-def]
        return [field for _, options in self.fieldsets for field in options["fields"]]

    def get_ordering(self, request: HttpRequest) -> list:  # type: ignore[type-arg]
        # The review queue first: submitted campaigns, then pending raises, oldest first. An
        # expression, because the changelist orders by get_ordering (and a column click).
        review_first = Case(
            When(status=CampaignStatus.SUBMITTED, then=Value(0)),
            When(pending_budget_total__isnull=False, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        return [review_first.asc(), F("submitted_at").asc(nulls_last=True), "-created_at"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Campaign], search_term: str
    ) -> tuple[QuerySet[Campaign], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            ident = uuid.UUID(term)
        except ValueError:
            return queryset.filter(name__icontains=term), False
        return queryset.filter(Q(pk=ident) | Q(merchant_id=ident)), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # merchants define campaigns

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # nothing is edited here; reviewing is an action (has_review_permission)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("campaigns.change_campaign")

    @admin.display(description="budget")
    def budget(self, obj: Campaign) -> str:
        return money(obj.budget_total, obj.merchant.currency)

    @admin.display(description="used")
    def used(self, obj: Campaign) -> str:
        return money(obj.budget_used, obj.merchant.currency)

    @admin.display(description="usage")
    def usage(self, obj: Campaign) -> str:
        return f"{100 * obj.budget_used // obj.budget_total} %" if obj.budget_total else "—"

    @admin.display(description="remaining")
    def remaining(self, obj: Campaign) -> str:
        return money(obj.budget_remaining, obj.merchant.currency)

    @admin.display(description="used today (merchant's day)")
    def used_today(self, obj: Campaign) -> str:
        return money(campaign_budget_figures(obj).used_today, obj.merchant.currency)

    @admin.display(description="shown as")
    def shown_state(self, obj: Campaign) -> str:
        return campaign_shown_state(obj, merchant=obj.merchant).replace("_", " ")

    @admin.display(description="daily cap")
    def daily_cap_shown(self, obj: Campaign) -> str:
        return money(obj.daily_cap, obj.merchant.currency)

    @admin.display(description="order limits (financed amount)")
    def order_limits(self, obj: Campaign) -> str:
        low = money(obj.min_amount, obj.merchant.currency) if obj.min_amount else "none"
        high = money(obj.max_amount, obj.merchant.currency) if obj.max_amount else "none"
        return format_html("from {} up to {}", low, high)

    @admin.display(description="pending raise")
    def pending_budget(self, obj: Campaign) -> str:
        if obj.pending_budget_total is None:
            return "—"
        return money(obj.pending_budget_total, obj.merchant.currency)

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

    @admin.action(description="Approve the selected submitted campaigns", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, campaign_approve)

    @admin.action(
        description="Reject the selected submitted campaigns (reason required)",
        permissions=["review"],
    )
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

    @admin.action(description="Approve the pending budget raise", permissions=["review"])
    def approve_budget_raise(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, campaign_budget_raise_review, approve=True)

    @admin.action(description="Turn down the pending budget raise", permissions=["review"])
    def reject_budget_raise(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(
            request,
            queryset,
            campaign_budget_raise_review,
            approve=False,
            reason="Turned down by an operator in the admin.",
        )
