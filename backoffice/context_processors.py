"""What the layout needs on every page: the member, their capabilities and the menu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from backoffice.roles import Capability


@dataclass(frozen=True, slots=True)
class MenuItem:
    url_name: str
    label: Promise
    capability: Capability
    icon: str

    @property
    def path(self) -> str:
        return reverse(self.url_name)


MENU = (
    MenuItem("bo:dashboard", _("Dashboard"), Capability.READ, "home"),
    MenuItem("bo:campaign_list", _("Campaigns"), Capability.READ, "campaign"),
    MenuItem("bo:plan_list", _("Plans"), Capability.READ, "plan"),
    MenuItem("bo:statement_list", _("Settlements"), Capability.READ, "statement"),
    MenuItem("bo:store_list", _("Stores"), Capability.READ, "store"),
    MenuItem("bo:member_list", _("Members"), Capability.MANAGE_MEMBERS, "member"),
    MenuItem("bo:api_key_list", _("API keys"), Capability.MANAGE_API_KEYS, "key"),
)


def backoffice(request: HttpRequest) -> dict[str, Any]:
    """``member``, ``can`` (capability → True, for ``{% if can.refund %}``), ``menu`` (the items the
    role may use, the current one marked) and ``section_path`` (where the merchant switcher returns)."""
    member = getattr(request, "member", None)
    if member is None:
        return {}
    menu = []
    current = None
    for item in MENU:
        if not member.can(item.capability):
            continue
        path = item.path
        active = request.path == path if path == "/" else request.path.startswith(path)
        if active:
            current = path
        menu.append({"item": item, "path": path, "active": active})
    return {
        "member": member,
        "can": {capability.value: True for capability in member.capabilities},
        "menu": menu,
        "section_path": current or "/",
    }
