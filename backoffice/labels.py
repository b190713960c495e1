"""Translated labels for the stored codes the back office shows (statuses, roles, modes, channels).

The models' ``TextChoices`` labels are English and part of their migrations; the pages show these
instead, so every label is in the zh-Hans catalog. A code without a label is shown as it is."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

LABELS: dict[str, dict[str, Promise]] = {
    "campaign_status": {
        "draft": pgettext_lazy("campaign status", "Draft"),
        "submitted": pgettext_lazy("campaign status", "In review"),
        "approved": pgettext_lazy("campaign status", "Approved"),
        "rejected": pgettext_lazy("campaign status", "Rejected"),
        "paused": pgettext_lazy("campaign status", "Paused"),
        "ended": pgettext_lazy("campaign status", "Ended"),
        "cancelled": pgettext_lazy("campaign status", "Cancelled"),
        "scheduled": pgettext_lazy("campaign status", "Scheduled"),
        "live": pgettext_lazy("campaign status", "Live"),
        "budget_spent": pgettext_lazy("campaign status", "Budget spent"),
    },
    "plan_status": {
        "active": pgettext_lazy("plan status", "Active"),
        "voided": pgettext_lazy("plan status", "Voided"),
        "refunded": pgettext_lazy("plan status", "Refunded"),
    },
    "role": {
        "owner": _("Owner"),
        "manager": _("Manager"),
        "finance": _("Finance"),
        "viewer": _("Viewer"),
    },
    "mode": {"live": _("Live"), "test": _("Test")},
    "channel": {"online": _("Online"), "in_store": _("In store")},
    "alert": {
        "threshold": _("Budget alert threshold reached"),
        "budget_refused": _("A checkout was refused for lack of budget"),
    },
    "campaign_event": {
        "created": _("Created"),
        "updated": _("Updated"),
        "submitted": _("Submitted for review"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "reopened": _("Reopened for editing"),
        "cancelled": _("Cancelled"),
        "paused": _("Paused"),
        "resumed": _("Resumed"),
        "ended": _("Ended"),
        "duplicated": _("Duplicated"),
        "budget_raise_approved": _("Budget raise approved"),
        "budget_raise_rejected": _("Budget raise rejected"),
    },
    "rounding": {"half_up": _("Half up"), "half_even": _("Half to even")},
}

# Badge colours by code: the CSS knows these few tones.
TONES: dict[str, str] = {
    "live": "good",
    "active": "good",
    "approved": "good",
    "scheduled": "info",
    "submitted": "info",
    "budget_spent": "warn",
    "paused": "warn",
    "draft": "muted",
    "ended": "muted",
    "cancelled": "muted",
    "voided": "muted",
    "refunded": "warn",
    "rejected": "bad",
    "test": "info",
}


def label(kind: str, code: str) -> str:
    """The translated label of ``code`` in ``kind``; the code itself when there is none."""
    found = LABELS.get(kind, {}).get(code)
    return str(found) if found is not None else code
