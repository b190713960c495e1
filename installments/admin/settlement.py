"""Settlement in the operators' console (DESIGN.md §7): runs with their status, progress, totals,
duration and failures; starting and re-running a date or one merchant through the settlement
service (``settlement_run_for_date``, whose batches go to the Celery workers); statements, which
never change; and ``reconcile``, with its result shown."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Sum
from django.db.models.functions import JSONObject
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from installments.models import SettlementBatch, SettlementRun, Statement, StatementLine
from installments.reconcile import reconcile
from installments.settlement import (
    settlement_run_for_date,
    settlement_run_totals,
    settlement_today,
    statement_csv_response,
)
from merchants.admin_base import (
    BigTableAdmin,
    ImmutableAdmin,
    ImmutableInline,
    money,
    money_per_currency,
    reconcile_response,
)
from merchants.errors import DomainError
from merchants.models import Merchant


def _can_reconcile(request: HttpRequest) -> bool:
    # reconcile only reads; whoever may read the ledger may run it.
    return request.user.has_perm("installments.view_ledgerentry")


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


class SettlementBatchInline(ImmutableInline):
    model = SettlementBatch
    fields = [
        "position",
        "status",
        "merchants",
        "attempts",
        "statements_created",
        "started_at",
        "finished_at",
        "error",
    ]
    readonly_fields = fields
    ordering = ["position"]

    @admin.display(description="merchants")
    def merchants(self, batch: SettlementBatch) -> int:
        return len(batch.merchant_ids)


class RerunMerchantForm(forms.Form):
    merchant = forms.UUIDField(label="Merchant id")

    def clean_merchant(self) -> uuid.UUID:
        merchant_id = self.cleaned_data["merchant"]
        if not Merchant.objects.filter(pk=merchant_id).exists():
            raise forms.ValidationError("No merchant has this id.")
        return merchant_id


@admin.register(SettlementRun)
class SettlementRunAdmin(BigTableAdmin):
    form = SettlementRunForm
    list_display = [
        "business_date",
        "scope",
        "status_shown",
        "progress",
        "merchants_failed",
        "statements_created",
        "charges_shown",
        "reversals_shown",
        "net_shown",
        "duration_shown",
        "requested_by",
        "started_at",
    ]
    list_filter = ["status", ("business_date", admin.DateFieldListFilter)]
    list_select_related = ["merchant"]
    search_fields = ["=requested_by"]
    search_help_text = "A merchant's id, or who requested the run (exactly)."
    uuid_search_fields = ["merchant_id"]
    raw_id_fields = ["merchant"]
    inlines = [SettlementBatchInline]
    actions = ["rerun", "rerun_all_merchants", "rerun_one_merchant", "reconcile_books"]
    change_list_template = "admin/installments/settlementrun/change_list.html"

    def get_fields(self, request: HttpRequest, obj: SettlementRun | None = None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ["business_date", "merchant"]
        return [
            "business_date",
            "scope",
            "status_shown",
            "requested_by",
            "started_at",
            "finished_at",
            "duration_shown",
            "progress",
            "merchants_failed",
            "failures",
            "statements_created",
            "totals",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: SettlementRun | None = None):  # type: ignore[no-untyped-def]
        return [] if obj is None else self.get_fields(request, obj)

    def get_inlines(self, request: HttpRequest, obj: SettlementRun | None):  # type: ignore[no-untyped-def]
        return self.inlines if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # a run is what happened: re-run it, never edit it

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return _can_reconcile(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SettlementRun]:
        # A run for every merchant settles several currencies: its totals are shown per currency,
        # from its statements (one subquery per run, on the statements' run index), never the
        # run's own counters, which add every currency together.
        per_currency = (
            Statement.objects.filter(run=OuterRef("pk"))
            .order_by()
            .values("currency")
            .annotate(charges=Sum("charges"), reversals=Sum("reversals"), net=Sum("net"))
            .order_by("currency")
            .values(
                row=JSONObject(
                    currency="currency", charges="charges", reversals="reversals", net="net"
                )
            )
        )
        return super().get_queryset(request).annotate(currency_totals=ArraySubquery(per_currency))

    def _per_currency(self, run: SettlementRun, column: str) -> str:
        rows = run.currency_totals  # type: ignore[attr-defined]
        return money_per_currency([(row["currency"], int(row[column])) for row in rows])

    @admin.display(description="merchants")
    def scope(self, run: SettlementRun) -> str:
        return str(run.merchant) if run.merchant_id else "all merchants"

    @admin.display(description="status", ordering="status")
    def status_shown(self, run: SettlementRun) -> str:
        colour = {"running": "#b58900", "completed": "#2aa198", "failed": "#dc322f"}[run.status]
        return format_html('<strong style="color:{}">{}</strong>', colour, run.get_status_display())

    @admin.display(description="merchants done")
    def progress(self, run: SettlementRun) -> str:
        if not run.merchants_total:
            return "nothing to settle"
        share = 100 * (run.merchants_done + run.merchants_failed) // run.merchants_total
        return f"{run.merchants_done:,} / {run.merchants_total:,} ({share} %)"

    @admin.display(description="charges")
    def charges_shown(self, run: SettlementRun) -> str:
        return self._per_currency(run, "charges")

    @admin.display(description="reversals")
    def reversals_shown(self, run: SettlementRun) -> str:
        return self._per_currency(run, "reversals")

    @admin.display(description="net")
    def net_shown(self, run: SettlementRun) -> str:
        return self._per_currency(run, "net")

    @admin.display(description="duration")
    def duration_shown(self, run: SettlementRun) -> str:
        duration = run.duration
        if duration is None:
            return "running…" if run.status == SettlementRun.Status.RUNNING else "—"
        return str(timedelta(seconds=round(duration.total_seconds(), 1))).rstrip("0").rstrip(".")

    @admin.display(description="failed batches")
    def failures(self, run: SettlementRun) -> str:
        failed = list(
            run.batches.filter(Q(status="failed") | ~Q(error="")).values_list(
                "position", "status", "error"
            )
        )
        if not failed:
            return "none"
        return format_html_join(
            "", "<p>batch {} ({}): <code>{}</code></p>", ((p, s, e or "—") for p, s, e in failed)
        )

    @admin.display(description="totals per currency (from its statements)")
    def totals(self, run: SettlementRun) -> str:
        rows = settlement_run_totals(run=run)
        if not rows:
            return "no statements"
        return format_html_join(
            "",
            "<p>{}: {} statement{}, charges {}, reversals {}, net {}</p>",
            (
                (
                    r["currency"],
                    r["statements"],
                    "" if r["statements"] == 1 else "s",
                    money(r["charges"], r["currency"]),
                    money(r["reversals"], r["currency"]),
                    money(r["net"], r["currency"]),
                )
                for r in rows
            ),
        )

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        # A run is made by the service (it lists merchants and fans out batches), never saved raw.
        run = settlement_run_for_date(
            business_date=obj.business_date,
            merchant_id=obj.merchant_id,
            requested_by=request.user.get_username(),
        )
        obj.pk = run.pk
        obj.refresh_from_db()

    def _start(self, request: HttpRequest, scopes: list[tuple]) -> None:  # type: ignore[type-arg]
        started = []
        for business_date, merchant_id in dict.fromkeys(scopes):
            try:
                run = settlement_run_for_date(
                    business_date=business_date,
                    merchant_id=merchant_id,
                    requested_by=request.user.get_username(),
                )
            except DomainError as exc:
                self.message_user(request, f"{business_date}: {exc.message}", messages.ERROR)
            else:
                started.append(run)
        for run in started:
            url = reverse("admin:installments_settlementrun_change", args=[run.pk])
            self.message_user(
                request,
                format_html(
                    'Started <a href="{}">run {} of {}</a> ({}).',
                    url,
                    run.pk,
                    run.business_date,
                    run.get_status_display().lower(),
                ),
                messages.SUCCESS,
            )

    @admin.action(
        description="Re-run the selected runs (same date and merchants)", permissions=["add"]
    )
    def rerun(self, request: HttpRequest, queryset: QuerySet[SettlementRun]) -> None:
        self._start(request, [(run.business_date, run.merchant_id) for run in queryset])

    @admin.action(
        description="Re-run the selected runs' dates for every merchant", permissions=["add"]
    )
    def rerun_all_merchants(self, request: HttpRequest, queryset: QuerySet[SettlementRun]) -> None:
        self._start(request, [(run.business_date, None) for run in queryset])

    @admin.action(
        description="Re-run the selected runs' dates for one merchant…", permissions=["add"]
    )
    def rerun_one_merchant(
        self, request: HttpRequest, queryset: QuerySet[SettlementRun]
    ) -> HttpResponse | None:
        form = RerunMerchantForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            merchant_id = form.cleaned_data["merchant"]
            self._start(request, [(run.business_date, merchant_id) for run in queryset])
            return None
        return TemplateResponse(
            request,
            "admin/installments/settlementrun/rerun_merchant.html",
            {
                **self.admin_site.each_context(request),
                "title": "Re-run for one merchant",
                "runs": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(
        description="Reconcile the books (every merchant, or the run's merchant)",
        permissions=["reconcile"],
    )
    def reconcile_books(
        self, request: HttpRequest, queryset: QuerySet[SettlementRun]
    ) -> HttpResponse:
        merchants = list(dict.fromkeys(run.merchant for run in queryset))
        if None in merchants:
            scopes = [("All merchants", reconcile())]
        else:
            scopes = [(f"{m.name} ({m.pk})", reconcile(merchant_id=m.pk)) for m in merchants]
        return reconcile_response(model_admin=self, request=request, scopes=scopes)

    def get_urls(self):  # type: ignore[no-untyped-def]
        return [
            path(
                "reconcile/",
                self.admin_site.admin_view(self.reconcile_view),
                name="installments_settlementrun_reconcile",
            ),
            *super().get_urls(),
        ]

    def reconcile_view(self, request: HttpRequest) -> HttpResponse:
        """``reconcile`` over every merchant's books (a POST: it reads a lot)."""
        if not _can_reconcile(request):
            raise PermissionDenied
        if request.method != "POST":
            return TemplateResponse(
                request,
                "admin/installments/settlementrun/reconcile_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Reconcile the books",
                    "opts": self.model._meta,
                },
            )
        return reconcile_response(
            model_admin=self, request=request, scopes=[("All merchants", reconcile())]
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):  # type: ignore[no-untyped-def]
        extra_context = {**(extra_context or {}), "can_reconcile": _can_reconcile(request)}
        return super().changelist_view(request, extra_context)


class StatementLineInline(ImmutableInline):
    model = StatementLine
    fields = [
        "campaign_name",
        "campaign",
        "adjustment",
        "plans_charged",
        "charges_shown",
        "reversals_shown",
        "net_shown",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatementLine]:
        return super().get_queryset(request).select_related("statement", "campaign")

    @admin.display(description="charges")
    def charges_shown(self, line: StatementLine) -> str:
        return money(line.charges, line.statement.currency)

    @admin.display(description="reversals")
    def reversals_shown(self, line: StatementLine) -> str:
        return money(line.reversals, line.statement.currency)

    @admin.display(description="net")
    def net_shown(self, line: StatementLine) -> str:
        return money(line.net, line.statement.currency)


@admin.register(Statement)
class StatementAdmin(ImmutableAdmin):
    list_display = [
        "business_date",
        "merchant",
        "currency",
        "plans_charged",
        "charges_shown",
        "reversals_shown",
        "net_shown",
        "csv",
    ]
    list_filter = [("business_date", admin.DateFieldListFilter), "currency"]
    search_fields = ["=merchant__id"]  # shows the search box; searched by uuid_search_fields
    search_help_text = "A merchant's id."
    uuid_search_fields = ["merchant_id"]
    search_text = False
    list_select_related = ["merchant"]
    inlines = [StatementLineInline]
    fields = [
        "id",
        "merchant",
        "business_date",
        "currency",
        "plans_charged",
        "charges_shown",
        "reversals_shown",
        "net_shown",
        "settlement_entry",
        "run",
        "created_at",
        "csv",
    ]
    readonly_fields = fields

    @admin.display(description="charges")
    def charges_shown(self, statement: Statement) -> str:
        return money(statement.charges, statement.currency)

    @admin.display(description="reversals")
    def reversals_shown(self, statement: Statement) -> str:
        return money(statement.reversals, statement.currency)

    @admin.display(description="net", ordering="net")
    def net_shown(self, statement: Statement) -> str:
        return money(statement.net, statement.currency)

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
