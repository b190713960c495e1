"""What every page of the operators' console (the Django admin) shares.

- Amounts are integer minor units: ``money`` shows them with their currency (``¥5,999.00``) and
  keeps the stored integer in the tooltip; nothing here ever converts or rounds a stored value.
- Lists of big tables never count every row: ``EstimatedCountPaginator`` counts exactly up to a cap
  and takes PostgreSQL's planner estimate above it.
- ``ImmutableAdmin`` / ``ImmutableInline``: records nobody edits from the admin, superusers
  included (the ledger, plans and what settlement made). Their permission methods answer "no"
  whatever the user's permissions, so no URL or form of the admin can add, change or delete them.
- Reason forms (freeze, unfreeze, reject) and ``reconcile``'s result page.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from installments.reconcile import CHECKS, ReconcileReport
from merchants.currencies import CURRENCIES, currency_format, currency_format_coded

# Lists count rows exactly up to this many; above it the count is the planner's estimate.
EXACT_COUNT_CAP = 10_000


def money(amount: int | None, currency: str, *, coded: bool = False) -> str:
    """An amount in minor units shown with its currency; the stored integer in the tooltip.
    ``coded`` shows the ISO code instead of the symbol (``CNY 5,999.00``)."""
    if amount is None:
        return "—"
    if currency not in CURRENCIES:
        text = f"{amount} {currency}"
    else:
        text = (currency_format_coded if coded else currency_format)(amount, currency)
    return format_html('<span title="{} minor units">{}</span>', amount, text)


def money_per_currency(amounts: Sequence[tuple[str, int]]) -> str:
    """Amounts of several currencies, never added together: ``¥449.93`` for one currency,
    ``CNY 449.93 · JPY 7,500`` (codes: symbols are ambiguous) for more; "—" for none."""
    if not amounts:
        return "—"
    coded = len({currency for currency, _ in amounts}) > 1
    return format_html_join(
        " · ", "{}", ((money(amount, currency, coded=coded),) for currency, amount in amounts)
    )


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a big table: where PostgreSQL's planner expects more than
    ``cap`` rows, its estimate of the filtered query; otherwise ``COUNT(*)`` over at most
    ``cap + 1`` rows, exact below the cap (``estimated`` says which).

    Page links past the real end are harmless: the admin answers them with its "invalid page"
    redirect."""

    cap = EXACT_COUNT_CAP
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        # The estimate first (no rows read): a list the planner expects to be long is not
        # counted at all, so a selective filter never scans far to reach the cap.
        try:
            estimate = _planner_rows(queryset)
        except EmptyResultSet:  # a search that cannot match (``queryset.none()``)
            return 0
        if estimate <= self.cap:
            exact = queryset.order_by()[: self.cap + 1].count()
            if exact <= self.cap:
                return exact
        self.estimated = True
        return max(self.cap + 1, estimate)


def _planner_rows(queryset: QuerySet) -> int:
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class BigTableAdmin(admin.ModelAdmin):
    """A list over a table that grows without bound: no full counts, no facet counts, and ids
    searched exactly.

    A search term that is a UUID matches ``uuid_search_fields`` exactly (indexed columns; the
    admin's own ``=field`` search would compare ``upper(field::text)`` and read the whole table);
    any other term goes to ``search_fields``, or matches nothing when ``search_text`` is off."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    uuid_search_fields: Sequence[str] = ()
    search_text = True

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if term and self.uuid_search_fields:
            try:
                ident = uuid.UUID(term)
            except ValueError:
                pass
            else:
                condition = Q.create(
                    [(field, ident) for field in self.uuid_search_fields], connector=Q.OR
                )
                return queryset.filter(condition), False
            if not self.search_text:
                return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)


class ImmutableAdmin(BigTableAdmin):
    """Read-only for everyone, superusers included: no add, change or delete path exists."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ImmutableInline(admin.TabularInline):
    """An inline nobody can add to, change or delete from. Its rows are shown without their
    ``str()`` (which for money rows is the raw minor units): the columns say it, formatted."""

    template = "admin/edit_inline/tabular_record.html"
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), required=True, max_length=2000
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why.")
        return reason


def reason_form_response(
    *,
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    action: str,
    title: str,
    explanation: str,
    form: ReasonForm,
    button: str,
) -> TemplateResponse:
    """The intermediate page of an action that needs a reason: the selected objects and the form."""
    return TemplateResponse(
        request,
        "admin/reason_action.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "objects": queryset,
            "form": form,
            "action": action,
            "button": button,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": model_admin.model._meta,
        },
    )


def reconcile_response(
    *,
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    scopes: Sequence[tuple[str, ReconcileReport]],
) -> TemplateResponse:
    """``reconcile``'s result: each check per scope (all books, or one merchant), and every
    mismatch it found, as the command prints them."""
    descriptions = {check.name: check.description for check in CHECKS}
    results: list[dict[str, Any]] = []
    for label, report in scopes:
        by_check: dict[str, list[dict[str, Any]]] = {name: [] for name in report.checks}
        for mismatch in report.mismatches:
            by_check.setdefault(mismatch["check"], []).append(mismatch)
        results.append(
            {
                "label": label,
                "ok": report.ok,
                "checks": [
                    _check_result(name, descriptions.get(name, ""), rows)
                    for name, rows in by_check.items()
                ],
            }
        )
    return TemplateResponse(
        request,
        "admin/reconcile_result.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": "Reconcile: the books "
            + ("agree" if all(report.ok for _, report in scopes) else "DISAGREE"),
            "results": results,
            "opts": model_admin.model._meta,
        },
    )


def _check_result(name: str, description: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = [key for key in rows[0] if key != "check"] if rows else []
    return {
        "name": name,
        "description": description,
        "columns": columns,
        "rows": [[row.get(column) for column in columns] for row in rows],
    }
