"""What each merchant role may do in the back office (DESIGN.md §8), in one table.

Reading is open to every member, except the pages about people and credentials (members and API
keys), which are the owner's. Each write belongs to the roles §8 names for it: campaigns to
managers, plans' refunds and statements to finance, and everything to the owner. Menus, buttons
and forms are shown from the same table that the views enforce."""

from __future__ import annotations

from enum import StrEnum

from merchants.models import Membership


class Capability(StrEnum):
    READ = "read"
    MANAGE_CAMPAIGNS = "manage_campaigns"
    REFUND = "refund"
    MANAGE_STORES = "manage_stores"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_API_KEYS = "manage_api_keys"


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Membership.Role.OWNER: frozenset(Capability),
    Membership.Role.MANAGER: frozenset({Capability.READ, Capability.MANAGE_CAMPAIGNS}),
    Membership.Role.FINANCE: frozenset({Capability.READ, Capability.REFUND}),
    Membership.Role.VIEWER: frozenset({Capability.READ}),
}


def role_capabilities(role: str) -> frozenset[Capability]:
    """The role's capabilities; an unknown role has none."""
    return ROLE_CAPABILITIES.get(role, frozenset())
