"""The back office's filters for plans and statements (django-filter). Dates are the merchant's
local dates (the merchant's time zone is active on every back-office page) and become bounds on
the indexed ``created_at``, so a filter never defeats the index."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.labels import LABELS
from campaigns.models import Campaign
from installments.plan_models import PlanStatus


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _merchant_campaigns(request: HttpRequest | None) -> QuerySet[Campaign]:
    if request is None or not hasattr(request, "member"):
        return Campaign.objects.none()
    return Campaign.objects.filter(merchant=request.member.merchant).order_by("-created_at", "id")


class PlanFilter(django_filters.FilterSet):
    """Search by order or consumer reference; filter by status, term, campaign and date range."""

    q = django_filters.CharFilter(
        method="search",
        label=_("Search"),
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Order or consumer reference")}
        ),
    )
    status = django_filters.ChoiceFilter(
        choices=[(code, LABELS["plan_status"][code]) for code in PlanStatus.values],
        label=_("Status"),
        empty_label=_("Any status"),
    )
    term = django_filters.ChoiceFilter(choices=[], label=_("Term"), empty_label=_("Any term"))
    campaign = django_filters.ModelChoiceFilter(
        queryset=_merchant_campaigns, label=_("Campaign"), empty_label=_("Any campaign")
    )
    created_from = django_filters.DateFilter(
        method="created_on_or_after", label=_("From"), widget=_date_input()
    )
    created_to = django_filters.DateFilter(
        method="created_on_or_before", label=_("To"), widget=_date_input()
    )

    def __init__(self, *args: object, terms: list[int] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.filters["term"].extra["choices"] = [
            (str(term), _("%(term)d months") % {"term": term}) for term in terms or (3, 6, 12)
        ]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(merchant_order_ref__icontains=value) | Q(consumer_ref__icontains=value)
        )

    def created_on_or_after(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__gte=_day_start(value))

    def created_on_or_before(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__lt=_day_start(value + timedelta(days=1)))


class StatementFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(
        field_name="business_date", lookup_expr="gte", label=_("From"), widget=_date_input()
    )
    date_to = django_filters.DateFilter(
        field_name="business_date", lookup_expr="lte", label=_("To"), widget=_date_input()
    )
    adjustments = django_filters.BooleanFilter(
        field_name="has_adjustments",
        label=_("Adjustments"),
        widget=forms.Select(
            choices=[("", _("All statements")), ("true", _("With adjustments only"))]
        ),
    )
