"""The back office's campaign list filters (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from backoffice.labels import LABELS
from campaigns.models import CampaignStatus


class CampaignFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label=_("Name"),
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Campaign name")}),
    )
    status = django_filters.ChoiceFilter(
        choices=[(code, LABELS["campaign_status"][code]) for code in CampaignStatus.values],
        label=_("Status"),
        empty_label=_("Any status"),
    )
