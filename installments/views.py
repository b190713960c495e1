"""The back office's plan and settlement pages (DESIGN.md §10).

Plans: a searchable, filtered, paginated list (live and test plans apart, §3.5) with a CSV export
of the filtered list; a detail page with the schedule, lines, refunds, the pricing snapshot and the
campaign applied, and a refund form for finance and owners that calls ``plan_refund``, the API's
service. Settlements: statements, their lines (adjustments marked) and the §7 CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.listing import page_of
from backoffice.roles import Capability
from backoffice.templatetags.backoffice import money_text
from backoffice.tenancy import member_view
from installments.filters import PlanFilter, StatementFilter
from installments.forms import RefundForm
from installments.plan_models import Plan, PlanStatus
from installments.plan_selectors import (
    plan_detail_get,
    plan_list_for_merchant,
    statement_get,
    statement_list_for_merchant,
)
from installments.plans import plan_refund
from installments.selectors import fee_terms_in_force
from installments.settlement import statement_csv_response
from merchants.errors import DomainError
from merchants.models import Merchant

MODES = ("live", "test")


def _mode(request: HttpRequest) -> str:
    mode = request.GET.get("mode", "live")
    return mode if mode in MODES else "live"


def _plan_filter(request: HttpRequest, merchant: Merchant, mode: str) -> PlanFilter:
    terms = sorted(fee_terms_in_force(merchant_id=merchant.pk, at=timezone.now()))
    return PlanFilter(
        request.GET or None,
        queryset=plan_list_for_merchant(merchant=merchant, test=mode == "test"),
        request=request,
        terms=terms,
    )


@member_view()
def plan_list_page(request: HttpRequest) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    mode = _mode(request)
    filterset = _plan_filter(request, merchant, mode)
    page = page_of(request, filterset.qs)
    query = request.GET.copy()
    query.pop("page", None)
    query["mode"] = mode
    return render(
        request,
        "installments/plan_list.html",
        {
            "merchant": merchant,
            "mode": mode,
            "filter": filterset,
            "page": page,
            "export_url": f"{reverse('bo:plan_export')}?{query.urlencode()}",
        },
    )


PLAN_CSV_COLUMNS = (
    "id",
    "created_at",
    "merchant_order_ref",
    "consumer_ref",
    "status",
    "test",
    "term",
    "currency",
    "order_amount",
    "government_subsidy",
    "original_financed_amount",
    "refunded_amount",
    "financed_amount",
    "consumer_fee",
    "merchant_subsidy",
    "apr",
    "campaign_id",
    "campaign_name",
    "store",
    "channel",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_text(value: str) -> str:
    # A cell that a spreadsheet would run as a formula is quoted as text (CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _plan_csv_rows(plans: Any) -> Iterator[list[object]]:
    yield list(PLAN_CSV_COLUMNS)
    for plan in plans.iterator(chunk_size=1000):
        yield [
            str(plan.pk),
            timezone.localtime(plan.created_at).isoformat(),
            _csv_text(plan.merchant_order_ref),
            _csv_text(plan.consumer_ref),
            plan.status,
            "true" if plan.test else "false",
            plan.term,
            plan.currency,
            plan.order_amount,
            plan.government_subsidy,
            plan.original_financed_amount,
            plan.refunded_amount,
            plan.financed_amount,
            plan.consumer_fee,
            plan.merchant_subsidy,
            plan.apr,
            str(plan.campaign_id or ""),
            _csv_text(plan.campaign_name),
            _csv_text(plan.store),
            plan.channel,
        ]


@member_view()
def plan_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered list as CSV: amounts in minor units (DESIGN.md §2), times with their offset in
    the merchant's time zone; streamed, so a long list never sits in memory."""
    merchant = request.member.merchant  # type: ignore[attr-defined]
    mode = _mode(request)
    plans = _plan_filter(request, merchant, mode).qs
    writer = csv.writer(_Echo())
    tz = timezone.get_current_timezone()

    def rows() -> Iterator[str]:
        # The stream is read after the view returns: keep the merchant's zone for its dates.
        with timezone.override(tz):
            for row in _plan_csv_rows(plans):
                yield writer.writerow(row)

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="plans-{mode}-{stamp}.csv"'
    return response


def _refundable(plan: Plan) -> bool:
    return not plan.test and plan.status == PlanStatus.ACTIVE and plan.financed_amount > 0


def _plan_page(
    request: HttpRequest, plan: Plan, form: RefundForm | None, *, status: int = 200
) -> HttpResponse:
    installments = list(plan.installments.all())
    return render(
        request,
        "installments/plan_detail.html",
        {
            "merchant": request.member.merchant,  # type: ignore[attr-defined]
            "plan": plan,
            "installments": installments,
            "schedule_total": {
                "principal": sum(i.principal for i in installments),
                "fee": sum(i.fee for i in installments),
                "amount": sum(i.amount for i in installments),
            },
            "lines": list(plan.lines.all()),
            "refunds": list(plan.refunds.all()),
            "refundable": _refundable(plan),
            "form": form,
        },
        status=status,
    )


@member_view()
def plan_detail_page(request: HttpRequest, plan_id: str) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    plan = plan_detail_get(merchant=merchant, plan_id=plan_id)
    if plan is None:
        raise Http404
    form = None
    if _refundable(plan) and request.member.can(Capability.REFUND):  # type: ignore[attr-defined]
        form = RefundForm(plan=plan)
    return _plan_page(request, plan, form)


@member_view(Capability.REFUND)
@require_POST
def plan_refund_page(request: HttpRequest, plan_id: str) -> HttpResponse:
    """Refund from the page (live plans only: test plans are refunded with a test key)."""
    merchant = request.member.merchant  # type: ignore[attr-defined]
    plan = plan_detail_get(merchant=merchant, plan_id=plan_id)
    if plan is None or plan.test:
        raise Http404
    form = RefundForm(request.POST, plan=plan)
    if form.is_valid():
        try:
            refund = plan_refund(
                merchant=merchant,
                test=False,
                plan_id=plan.pk,
                amount=form.amount_minor,
                refund_ref=form.cleaned_data["refund_ref"],
                lines=form.returned_lines,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                _("Refunded %(amount)s (%(ref)s); %(reversed)s of subsidy went back to you.")
                % {
                    "amount": money_text(refund.amount, plan.currency),
                    "ref": refund.refund_ref,
                    "reversed": money_text(refund.subsidy_reversed, plan.currency),
                },
            )
            return redirect("bo:plan_detail", plan_id=plan.pk)
    return _plan_page(request, plan, form)


@member_view()
def statement_list_page(request: HttpRequest) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    filterset = StatementFilter(
        request.GET or None, queryset=statement_list_for_merchant(merchant=merchant)
    )
    return render(
        request,
        "installments/statement_list.html",
        {"merchant": merchant, "filter": filterset, "page": page_of(request, filterset.qs)},
    )


def _statement(request: HttpRequest, statement_id: str) -> Any:
    statement = statement_get(
        merchant=request.member.merchant,  # type: ignore[attr-defined]
        statement_id=statement_id,
    )
    if statement is None:
        raise Http404
    return statement


@member_view()
def statement_detail_page(request: HttpRequest, statement_id: str) -> HttpResponse:
    statement = _statement(request, statement_id)
    lines = list(statement.lines.all())
    return render(
        request,
        "installments/statement_detail.html",
        {
            "merchant": request.member.merchant,  # type: ignore[attr-defined]
            "statement": statement,
            "lines": lines,
            "has_adjustments": any(line.adjustment for line in lines),
        },
    )


@member_view()
def statement_csv(request: HttpRequest, statement_id: str) -> HttpResponse:
    return statement_csv_response(_statement(request, statement_id))
