"""Every back-office URL, who may use it, and how to build it for a shop (tests/backoffice)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.backoffice.conftest import ROLES, Shop

EVERYONE = frozenset(ROLES)
OWNER = frozenset({"owner"})
REFUNDERS = frozenset({"owner", "finance"})
CAMPAIGNERS = frozenset({"owner", "manager"})


@dataclass(frozen=True)
class Page:
    name: str
    url: Callable[[Shop], str]
    roles: frozenset[str]
    # Whether the URL names one of the merchant's objects (another merchant's id must be a 404).
    names_object: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Action(Page):
    data: Callable[[Shop], dict] = field(default=lambda shop: {})
    ok_status: int = 302


PAGES = [
    Page("dashboard", lambda s: "/", EVERYONE),
    Page("campaign list", lambda s: "/campaigns/", EVERYONE),
    Page("campaign detail", lambda s: f"/campaigns/{s.campaign.pk}/", EVERYONE, True),
    Page("campaign create", lambda s: "/campaigns/new/", CAMPAIGNERS),
    Page("campaign edit", lambda s: f"/campaigns/{s.campaign.pk}/edit/", CAMPAIGNERS, True),
    Page("plan list", lambda s: "/plans/", EVERYONE),
    Page("plan list, test mode", lambda s: "/plans/?mode=test", EVERYONE),
    Page("plan export", lambda s: "/plans/export/", EVERYONE),
    Page("plan detail", lambda s: f"/plans/{s.plan.pk}/", EVERYONE, True),
    Page("test plan detail", lambda s: f"/plans/{s.test_plan.pk}/", EVERYONE, True),
    Page("statement list", lambda s: "/settlements/", EVERYONE),
    Page("statement detail", lambda s: f"/settlements/{s.statement.pk}/", EVERYONE, True),
    Page("statement CSV", lambda s: f"/settlements/{s.statement.pk}/csv/", EVERYONE, True),
    Page("store list", lambda s: "/stores/", EVERYONE),
    Page("store create", lambda s: "/stores/new/", OWNER),
    Page("store edit", lambda s: f"/stores/{s.store.pk}/", OWNER, True),
    Page("member list", lambda s: "/members/", OWNER),
    Page("API key list", lambda s: "/api-keys/", OWNER),
]

ACTIONS = [
    Action(
        "campaign preview",
        lambda s: "/campaigns/preview/",
        CAMPAIGNERS,
        data=lambda s: {"preview-amount": "5999.00", "offer_0_term": "12", "offer_0_share": "100"},
        ok_status=200,
    ),
    Action(
        "campaign preview of a campaign",
        lambda s: "/campaigns/preview/",
        CAMPAIGNERS,
        True,
        data=lambda s: {"campaign": str(s.campaign.pk), "preview-amount": "5999.00"},
        ok_status=200,
    ),
    Action(
        "campaign duplicate", lambda s: f"/campaigns/{s.campaign.pk}/duplicate/", CAMPAIGNERS, True
    ),
    Action("campaign pause", lambda s: f"/campaigns/{s.campaign.pk}/pause/", CAMPAIGNERS, True),
    Action(
        "refund",
        lambda s: f"/plans/{s.plan.pk}/refund/",
        REFUNDERS,
        True,
        data=lambda s: {
            "amount": "10.00",
            "refund_ref": f"BO-{uuid.uuid4()}",
            "reason": "returned",
        },
    ),
    Action(
        "store create",
        lambda s: "/stores/new/",
        OWNER,
        data=lambda s: {"code": "NEW-1", "name": "New store", "city": ""},
    ),
    Action(
        "store edit",
        lambda s: f"/stores/{s.store.pk}/",
        OWNER,
        True,
        data=lambda s: {"code": s.store.code, "name": "Renamed", "city": "Hangzhou"},
    ),
    Action("store deactivate", lambda s: f"/stores/{s.store.pk}/deactivate/", OWNER, True),
    Action("store activate", lambda s: f"/stores/{s.store.pk}/activate/", OWNER, True),
    Action(
        "member invite",
        lambda s: "/members/invite/",
        OWNER,
        data=lambda s: {"email": "new.person@example.com", "role": "viewer"},
    ),
    Action(
        "member role",
        lambda s: f"/members/{s.owner_membership.pk}/role/",
        OWNER,
        True,
        data=lambda s: {"role": "viewer"},
    ),
    Action("member remove", lambda s: f"/members/{s.owner_membership.pk}/remove/", OWNER, True),
    Action(
        "API key create",
        lambda s: "/api-keys/new/",
        OWNER,
        data=lambda s: {"mode": "test", "name": "new"},
        ok_status=200,
    ),
    Action(
        "API key rotate", lambda s: f"/api-keys/{s.api_key.pk}/rotate/", OWNER, True, ok_status=200
    ),
    Action("API key revoke", lambda s: f"/api-keys/{s.api_key.pk}/revoke/", OWNER, True),
]
