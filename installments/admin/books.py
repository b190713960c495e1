"""Plans and the ledger in the operators' console: read-only for everyone, superusers included.

A plan's money is what the consumer owes and the merchant was charged; the ledger is append-only
(the database refuses UPDATE and DELETE). Nothing here offers a way to change either: every
permission method answers "no" (``ImmutableAdmin``), the amounts are display methods (formatted
with their currency, the stored integer in the tooltip), and corrections are refunds, voids and
reversing entries made by the services.

The lists are built for millions of rows: the default order reads an index, counts are capped and
estimated, filters offer fixed choices (never a ``SELECT DISTINCT`` over the table), and search
matches ids and references exactly."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from installments.ledger_models import LedgerAccount, LedgerEntry, LedgerPosting
from installments.models import FeeRate, MerchantFeeOverride
from installments.plan_models import Plan, PlanInstallment, PlanLine, Refund
from merchants.admin_base import ImmutableAdmin, ImmutableInline, money


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _bigint(text: str | None) -> int | None:
    """A row id or term typed by an operator: ASCII digits that fit a bigint, else None.

    ``str.isdigit`` is not enough: it accepts digits ``int`` refuses ("²") and other scripts'."""
    if not text or not (text.isascii() and text.isdecimal()):
        return None
    value = int(text)
    return value if value < 2**63 else None


class TermFilter(admin.SimpleListFilter):
    """The terms any fee table or negotiated rate offers: a few rows, never a scan of plans."""

    title = "term"
    parameter_name = "term"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        terms = set(FeeRate.objects.values_list("term", flat=True).distinct())
        terms |= set(MerchantFeeOverride.objects.values_list("term", flat=True).distinct())
        return [(str(term), f"{term} terms") for term in sorted(terms)]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        term = _bigint(self.value())
        return queryset.filter(term=term) if term is not None and term < 2**15 else queryset


class PlanInstallmentInline(ImmutableInline):
    model = PlanInstallment
    verbose_name = "installment"
    verbose_name_plural = "schedule (what the lender bills)"
    fields = ["period", "due_date", "principal_shown", "fee_shown", "amount_shown"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanInstallment]:
        return super().get_queryset(request).select_related("plan")

    @admin.display(description="principal")
    def principal_shown(self, row: PlanInstallment) -> str:
        return money(row.principal, row.plan.currency)

    @admin.display(description="fee")
    def fee_shown(self, row: PlanInstallment) -> str:
        return money(row.fee, row.plan.currency)

    @admin.display(description="amount")
    def amount_shown(self, row: PlanInstallment) -> str:
        return money(row.amount, row.plan.currency)


class RefundInline(ImmutableInline):
    model = Refund
    fields = [
        "created_at",
        "refund_ref",
        "amount_shown",
        "subsidy_reversed_shown",
        "financed_after_shown",
        "consumer_fee_after_shown",
        "merchant_subsidy_after_shown",
        "lines",
        "reason",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return super().get_queryset(request).select_related("plan")

    @admin.display(description="amount")
    def amount_shown(self, refund: Refund) -> str:
        return money(refund.amount, refund.plan.currency)

    @admin.display(description="subsidy reversed")
    def subsidy_reversed_shown(self, refund: Refund) -> str:
        return money(refund.subsidy_reversed, refund.plan.currency)

    @admin.display(description="financed after")
    def financed_after_shown(self, refund: Refund) -> str:
        return money(refund.financed_after, refund.plan.currency)

    @admin.display(description="consumer fee after")
    def consumer_fee_after_shown(self, refund: Refund) -> str:
        return money(refund.consumer_fee_after, refund.plan.currency)

    @admin.display(description="merchant subsidy after")
    def merchant_subsidy_after_shown(self, refund: Refund) -> str:
        return money(refund.merchant_subsidy_after, refund.plan.currency)


class PlanLineInline(ImmutableInline):
    model = PlanLine
    verbose_name = "basket line"
    fields = ["position", "sku", "category", "amount_shown", "in_scope", "returned_shown"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanLine]:
        return super().get_queryset(request).select_related("plan")

    @admin.display(description="amount")
    def amount_shown(self, line: PlanLine) -> str:
        return money(line.amount, line.plan.currency)

    @admin.display(description="returned")
    def returned_shown(self, line: PlanLine) -> str:
        return money(line.returned, line.plan.currency)


def _money_display(field: str, description: str):  # type: ignore[no-untyped-def]
    """A read-only column showing ``field`` of a plan in its currency."""

    @admin.display(description=description, ordering=field)
    def show(self, plan: Plan) -> str:  # type: ignore[no-untyped-def]
        return money(getattr(plan, field), plan.currency)

    return show


@admin.register(Plan)
class PlanAdmin(ImmutableAdmin):
    list_display = [
        "created_at",
        "merchant_order_ref",
        "merchant",
        "status",
        "test",
        "term",
        "financed",
        "consumer_fee_shown",
        "merchant_subsidy_shown",
        "refunded",
        "campaign_name",
    ]
    list_display_links = ["created_at", "merchant_order_ref"]
    list_filter = ["status", "test", TermFilter, ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["merchant"]
    # Searched by get_search_results: ids exactly, order and consumer references exactly.
    search_fields = ["merchant_order_ref"]
    search_help_text = (
        "A plan, merchant or campaign id, or a merchant order reference or consumer reference "
        "(exactly)."
    )
    inlines = [PlanInstallmentInline, RefundInline, PlanLineInline]
    fieldsets = [
        (
            "Plan",
            {
                "fields": [
                    "id",
                    "merchant",
                    "status",
                    "test",
                    "merchant_order_ref",
                    "consumer_ref",
                    "store",
                    "channel",
                    "term",
                    "currency",
                    "created_at",
                    "voided_at",
                    "ledger",
                ]
            },
        ),
        (
            "Amounts as the plan stands (re-priced by refunds)",
            {
                "fields": [
                    "financed",
                    "eligible",
                    "consumer_fee_full_shown",
                    "waived_fee_shown",
                    "consumer_fee_shown",
                    "merchant_subsidy_shown",
                    "apr_shown",
                    "total_payable",
                    "refunded",
                ]
            },
        ),
        (
            "Basket at commit",
            {
                "fields": [
                    "order",
                    "government_subsidy_shown",
                    "original_financed",
                    "order_remaining",
                    "in_scope_remaining_shown",
                ]
            },
        ),
        (
            "Pricing snapshot (locked at commit)",
            {
                "fields": [
                    "consumer_rate",
                    "merchant_rate",
                    "share_bp",
                    "statement_day",
                    "due_day",
                    "rounding",
                    "purchase_date",
                    "fee_table_id",
                    "fee_override_id",
                    "platform_settings_id",
                    "campaign",
                    "campaign_name",
                    "offer_id",
                    "offer_min",
                    "charge_day",
                ]
            },
        ),
    ]

    financed = _money_display("financed_amount", "financed")
    eligible = _money_display("eligible_amount", "eligible (E)")
    consumer_fee_full_shown = _money_display("consumer_fee_full", "fee before subsidy (F)")
    waived_fee_shown = _money_display("waived_fee", "waived (W)")
    consumer_fee_shown = _money_display("consumer_fee", "consumer fee (C)")
    merchant_subsidy_shown = _money_display("merchant_subsidy", "merchant subsidy (M)")
    refunded = _money_display("refunded_amount", "refunded")
    order = _money_display("order_amount", "order amount (A)")
    government_subsidy_shown = _money_display("government_subsidy", "government subsidy (G)")
    original_financed = _money_display("original_financed_amount", "financed at commit (P0)")
    order_remaining = _money_display("order_amount_remaining", "order amount left (A')")
    in_scope_remaining_shown = _money_display("in_scope_remaining", "in-scope lines left (L')")

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None):  # type: ignore[no-untyped-def]
        return [field for _, options in self.fieldsets for field in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).select_related("merchant")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Plan], search_term: str
    ) -> tuple[QuerySet[Plan], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        ident = _uuid(term)
        if ident is not None:
            condition = Q(pk=ident) | Q(merchant_id=ident) | Q(campaign_id=ident)
        else:
            condition = Q(merchant_order_ref=term) | Q(consumer_ref=term)
        return queryset.filter(condition), False

    @admin.display(description="APR")
    def apr_shown(self, plan: Plan) -> str:
        return f"{plan.apr} %"

    @admin.display(description="total payable (P + C)")
    def total_payable(self, plan: Plan) -> str:
        return money(plan.financed_amount + plan.consumer_fee, plan.currency)

    @admin.display(description="offer minimum")
    def offer_min(self, plan: Plan) -> str:
        return money(plan.offer_min_amount, plan.currency)

    @admin.display(description="ledger entries")
    def ledger(self, plan: Plan) -> str:
        url = reverse("admin:installments_ledgerentry_changelist") + f"?q={plan.pk}"
        return format_html('<a href="{}">this plan\'s charges and reversals</a>', url)


class LedgerPostingInline(ImmutableInline):
    model = LedgerPosting
    fields = ["account", "amount_shown", "currency"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerPosting]:
        return super().get_queryset(request).select_related("account")

    @admin.display(description="amount (debit +, credit −)")
    def amount_shown(self, posting: LedgerPosting) -> str:
        return money(posting.amount, posting.currency)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ImmutableAdmin):
    list_display = [
        "id",
        "business_date",
        "kind",
        "merchant",
        "amount_shown",
        "campaign",
        "plan_link",
        "statement",
        "created_at",
    ]
    list_filter = ["kind", ("business_date", admin.DateFieldListFilter)]
    list_select_related = ["merchant", "campaign", "statement"]
    search_fields = ["=id"]
    search_help_text = "An entry number, or a merchant, plan, campaign or statement id."
    ordering = ["-id"]
    inlines = [LedgerPostingInline]
    fields = [
        "id",
        "merchant",
        "kind",
        "currency",
        "business_date",
        "charge_day",
        "campaign",
        "plan_link",
        "statement",
        "memo",
        "created_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
        # The entry's size: its debit leg (every entry is two balanced legs).
        debit = LedgerPosting.objects.filter(entry=OuterRef("pk"), amount__gt=0).values("amount")
        return super().get_queryset(request).annotate(size=Subquery(debit[:1]))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[LedgerEntry], search_term: str
    ) -> tuple[QuerySet[LedgerEntry], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        ident = _uuid(term)
        if ident is not None:
            condition = (
                Q(merchant_id=ident)
                | Q(plan_id=ident)
                | Q(campaign_id=ident)
                | Q(statement_id=ident)
            )
            return queryset.filter(condition), False
        number = _bigint(term)
        if number is not None:
            return queryset.filter(pk=number), False
        return queryset.none(), False

    @admin.display(description="amount")
    def amount_shown(self, entry: LedgerEntry) -> str:
        return money(entry.size, entry.currency)  # type: ignore[attr-defined]

    @admin.display(description="plan")
    def plan_link(self, entry: LedgerEntry) -> str:
        if entry.plan_id is None:
            return "—"
        url = reverse("admin:installments_plan_change", args=[entry.plan_id])
        return format_html('<a href="{}">{}</a>', url, entry.plan_id)


@admin.register(LedgerPosting)
class LedgerPostingAdmin(ImmutableAdmin):
    list_display = ["id", "entry", "account", "merchant", "amount_shown", "currency"]
    list_select_related = ["entry", "account", "merchant"]
    search_fields = ["=id"]
    search_help_text = "A posting number, or a merchant id."
    ordering = ["-id"]
    fields = ["id", "entry", "merchant", "account", "amount_shown", "currency"]
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[LedgerPosting], search_term: str
    ) -> tuple[QuerySet[LedgerPosting], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        ident = _uuid(term)
        if ident is not None:
            return queryset.filter(merchant_id=ident), False
        number = _bigint(term)
        if number is not None:
            return queryset.filter(Q(pk=number) | Q(entry_id=number)), False
        return queryset.none(), False

    @admin.display(description="amount (debit +, credit −)")
    def amount_shown(self, posting: LedgerPosting) -> str:
        return money(posting.amount, posting.currency)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ImmutableAdmin):
    list_display = ["merchant", "kind", "currency", "balance_shown"]
    list_filter = ["kind", "currency"]
    list_select_related = ["merchant"]
    search_fields = ["=merchant__id"]  # shows the search box; searched by uuid_search_fields
    search_help_text = "A merchant's id."
    uuid_search_fields = ["merchant_id"]
    search_text = False
    ordering = ["merchant_id", "kind", "currency"]
    fields = ["merchant", "kind", "currency", "balance_shown"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        # Balances are sums of postings (§7), computed for the rows shown only.
        total = (
            LedgerPosting.objects.filter(account=OuterRef("pk"))
            .order_by()
            .values("account")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return super().get_queryset(request).annotate(balance=Subquery(total))

    @admin.display(description="balance (debit +, credit −)")
    def balance_shown(self, account: LedgerAccount) -> str:
        return money(account.balance or 0, account.currency)  # type: ignore[attr-defined]
