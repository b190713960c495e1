"""The current merchant of a back-office request, and the decorator every page goes through.

A person may belong to several merchants (``Membership``). The merchant they are working for is kept
in their session (by id) and defaults to the first of their merchants by name; the switcher in the
header changes it. Every page reads ``request.member`` and scopes every query by its merchant, so
another merchant's ids are simply not found (404)."""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control

from backoffice.roles import Capability, role_capabilities
from merchants.models import Membership, Merchant

SESSION_KEY = "backoffice_merchant_id"


@dataclass(frozen=True, slots=True)
class Member:
    """The signed-in person as a member of the current merchant."""

    membership: Membership
    memberships: tuple[Membership, ...]
    capabilities: frozenset[Capability]

    @property
    def merchant(self) -> Merchant:
        return self.membership.merchant

    @property
    def role(self) -> str:
        return self.membership.role

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities


def member_of_request(request: HttpRequest) -> Member | None:
    """The signed-in user's membership of the merchant chosen in the session (or of their first
    merchant, which then becomes the chosen one). None for a user who belongs to no merchant.
    One query: a person belongs to a handful of merchants, loaded together for the switcher."""
    memberships = tuple(
        Membership.objects.select_related("merchant")
        .filter(user=request.user)
        .order_by("merchant__name", "merchant_id")
    )
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    current = next((m for m in memberships if str(m.merchant_id) == wanted), memberships[0])
    if wanted != str(current.merchant_id):
        request.session[SESSION_KEY] = str(current.merchant_id)
    return Member(
        membership=current,
        memberships=memberships,
        capabilities=role_capabilities(current.role),
    )


def merchant_choose(request: HttpRequest, *, merchant_id: str) -> Membership | None:
    """Make ``merchant_id`` the session's current merchant, if the user is a member of it; the
    membership, or None (and nothing changes) when they are not."""
    membership = (
        Membership.objects.select_related("merchant")
        .filter(user=request.user, merchant_id=merchant_id)
        .first()
        if _is_uuid(merchant_id)
        else None
    )
    if membership is not None:
        request.session[SESSION_KEY] = str(membership.merchant_id)
    return membership


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


ViewFunction = Callable[..., HttpResponse]


def member_view(capability: Capability = Capability.READ) -> Callable[[ViewFunction], ViewFunction]:
    """Wrap a back-office page: a signed-out visitor is sent to the sign-in page; a user who is no
    merchant's member (an operator, say) gets a 403 page pointing to the admin; a member whose role
    lacks ``capability`` gets 403. The page runs with ``request.member`` set and the merchant's time
    zone active, and its response is never stored by a cache (it holds a merchant's data)."""

    def decorator(view: ViewFunction) -> ViewFunction:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            member = member_of_request(request)
            if member is None:
                return render(request, "backoffice/no_merchant.html", status=403)
            request.member = member  # type: ignore[attr-defined]
            if not member.can(capability):
                raise PermissionDenied
            with timezone.override(zoneinfo.ZoneInfo(member.merchant.timezone)):
                response = view(request, *args, **kwargs)
            patch_cache_control(response, private=True, no_store=True)
            return response

        return wrapped

    return decorator
