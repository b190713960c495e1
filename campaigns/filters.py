"""The back office's campaign list filters (django-filter): a search on the name, and a status that
is either a stored one or one of the shown states a merchant thinks in (live, scheduled)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.labels import LABELS
from campaigns.models import CampaignStatus

SHOWN = ("live", "scheduled")
# The quick filters above the list, in the order a merchant looks for them.
QUICK_STATUSES = ("live", "scheduled", "submitted", "draft", "paused", "rejected", "ended")


class CampaignFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label=_("Name"),
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Campaign name")}),
    )
    status = django_filters.ChoiceFilter(
        choices=[(code, LABELS["campaign_status"][code]) for code in SHOWN]
        + [(code, LABELS["campaign_status"][code]) for code in CampaignStatus.values],
        label=_("Status"),
        empty_label=_("Any status"),
        method="filter_status",
    )

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Live: approved and inside the window (a live campaign whose budget is spent included);
        scheduled: approved, not started."""
        now = timezone.now()
        if value == "live":
            return queryset.filter(
                status=CampaignStatus.APPROVED, starts_at__lte=now, ends_at__gt=now
            )
        if value == "scheduled":
            return queryset.filter(status=CampaignStatus.APPROVED, starts_at__gt=now)
        return queryset.filter(status=value)
