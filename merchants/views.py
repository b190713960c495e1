"""The back office's pages for stores, members and API keys (DESIGN.md §8, §10).

Stores are read by every member and changed by owners; members and API keys are the owner's
alone. Every object is looked up within the current merchant, so another merchant's id is a 404.
Writes go through ``merchants.services``, the same functions as the API and the commands."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.labels import label
from backoffice.listing import page_of
from backoffice.roles import Capability
from backoffice.tenancy import member_view
from merchants.errors import DomainError
from merchants.forms import (
    ApiKeyCreateForm,
    ApiKeyRotateForm,
    MemberInviteForm,
    MemberRoleForm,
    StoreForm,
)
from merchants.models import ApiKey, Membership, Merchant, Store
from merchants.selectors import store_list
from merchants.services import (
    IssuedApiKey,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
    membership_invite,
    membership_remove,
    membership_role_change,
    store_create,
    store_update,
)


def _merchant(request: HttpRequest) -> Merchant:
    return request.member.merchant  # type: ignore[attr-defined]


# -- Stores ----------------------------------------------------------------------------------------


def _stores(request: HttpRequest, merchant: Merchant) -> QuerySet[Store]:
    stores = store_list(merchant=merchant)
    query = request.GET.get("q", "").strip()
    if query:
        stores = stores.filter(
            Q(code__icontains=query) | Q(name__icontains=query) | Q(city__icontains=query)
        )
    state = request.GET.get("state", "")
    if state in ("active", "inactive"):
        stores = stores.filter(active=state == "active")
    return stores


@member_view()
def store_list_page(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    return render(
        request,
        "merchants/store_list.html",
        {
            "merchant": merchant,
            "page": page_of(request, _stores(request, merchant)),
            "query": request.GET.get("q", ""),
            "state": request.GET.get("state", ""),
        },
    )


def _store(request: HttpRequest, store_id: int) -> Store:
    store = store_list(merchant=_merchant(request)).filter(pk=store_id).first()
    if store is None:
        raise Http404
    return store


@member_view(Capability.MANAGE_STORES)
def store_create_page(request: HttpRequest) -> HttpResponse:
    merchant = _merchant(request)
    form = StoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            store = store_create(merchant=merchant, **form.cleaned_data)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, _("Store %(code)s opened.") % {"code": store.code})
            return redirect("bo:store_list")
    return render(
        request, "merchants/store_form.html", {"merchant": merchant, "form": form, "store": None}
    )


@member_view(Capability.MANAGE_STORES)
def store_edit_page(request: HttpRequest, store_id: int) -> HttpResponse:
    store = _store(request, store_id)
    initial = {"code": store.code, "name": store.name, "city": store.city}
    form = StoreForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            store_update(store=store, **form.cleaned_data)
        except DomainError as error:
            store.refresh_from_db()
            form.add_domain_error(error)
        else:
            messages.success(request, _("Store %(code)s saved.") % {"code": store.code})
            return redirect("bo:store_list")
    return render(
        request,
        "merchants/store_form.html",
        {"merchant": _merchant(request), "form": form, "store": store},
    )


@member_view(Capability.MANAGE_STORES)
@require_POST
def store_set_active(request: HttpRequest, store_id: int, active: bool) -> HttpResponse:
    """Deactivate (or reactivate) a store; stores are never deleted, plans keep their code."""
    store = _store(request, store_id)
    store_update(store=store, active=active)
    if active:
        messages.success(request, _("Store %(code)s is active again.") % {"code": store.code})
    else:
        messages.success(request, _("Store %(code)s deactivated.") % {"code": store.code})
    return redirect("bo:store_list")


# -- Members ---------------------------------------------------------------------------------------


def _member_page(
    request: HttpRequest, invite_form: MemberInviteForm, *, status: int = 200
) -> HttpResponse:
    merchant = _merchant(request)
    memberships = list(
        Membership.objects.filter(merchant=merchant)
        .select_related("user")
        .order_by("created_at", "id")
    )
    owners = sum(1 for m in memberships if m.role == Membership.Role.OWNER)
    return render(
        request,
        "merchants/member_list.html",
        {
            "merchant": merchant,
            "memberships": memberships,
            "owners": owners,
            "invite_form": invite_form,
            "role_choices": MemberRoleForm.base_fields["role"].choices,
        },
        status=status,
    )


@member_view(Capability.MANAGE_MEMBERS)
def member_list_page(request: HttpRequest) -> HttpResponse:
    return _member_page(request, MemberInviteForm())


@member_view(Capability.MANAGE_MEMBERS)
@require_POST
def member_invite_page(request: HttpRequest) -> HttpResponse:
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = membership_invite(
                merchant=_merchant(request),
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
                site_url=f"{request.scheme}://{request.get_host()}",
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            email = invitation.membership.user.email
            if invitation.emailed:
                messages.success(
                    request, _("%(email)s was added and invited by e-mail.") % {"email": email}
                )
            else:
                messages.warning(
                    request,
                    _("%(email)s was added, but the invitation e-mail could not be sent.")
                    % {"email": email},
                )
            return redirect("bo:member_list")
    return _member_page(request, form)


def _membership(request: HttpRequest, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user")
        .filter(merchant=_merchant(request), pk=membership_id)
        .first()
    )
    if membership is None:
        raise Http404
    return membership


@member_view(Capability.MANAGE_MEMBERS)
@require_POST
def member_role_page(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _membership(request, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the roles."))
        return redirect("bo:member_list")
    try:
        membership_role_change(
            merchant=_merchant(request), membership_id=membership.pk, role=form.cleaned_data["role"]
        )
    except DomainError as error:
        messages.error(request, _refusal(error))
    else:
        messages.success(
            request,
            _("%(person)s is now %(role)s.")
            % {
                "person": membership.user.email or membership.user.get_username(),
                "role": label("role", form.cleaned_data["role"]),
            },
        )
    return redirect("bo:member_list")


@member_view(Capability.MANAGE_MEMBERS)
@require_POST
def member_remove_page(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _membership(request, membership_id)
    try:
        membership_remove(merchant=_merchant(request), user=membership.user)
    except DomainError as error:
        messages.error(request, _refusal(error))
        return redirect("bo:member_list")
    person = membership.user.email or membership.user.get_username()
    messages.success(request, _("%(person)s was removed.") % {"person": person})
    if membership.user_id == request.user.pk:
        return redirect("bo:dashboard")  # they left this merchant: the next one, if any
    return redirect("bo:member_list")


def _refusal(error: DomainError) -> str:
    if error.code == "invalid_transition" and "owner" in error.message:
        return _("A merchant must keep at least one owner.")
    if error.code == "not_found":
        return _("No such member.")
    return error.message


# -- API keys --------------------------------------------------------------------------------------


def _api_key_page(
    request: HttpRequest,
    form: ApiKeyCreateForm,
    *,
    issued: IssuedApiKey | None = None,
    replaced: ApiKey | None = None,
) -> HttpResponse:
    merchant = _merchant(request)
    keys = list(
        ApiKey.objects.filter(merchant=merchant)
        .select_related("created_by")
        .order_by("revoked_at", "-created_at", "-id")
    )
    return render(
        request,
        "merchants/api_key_list.html",
        {
            "merchant": merchant,
            "keys": keys,
            "active_keys": [key for key in keys if key.revoked_at is None],
            "revoked_keys": [key for key in keys if key.revoked_at is not None],
            "form": form,
            "rotate_form": ApiKeyRotateForm(),
            "issued": issued,
            "replaced": replaced,
        },
    )


@member_view(Capability.MANAGE_API_KEYS)
def api_key_list_page(request: HttpRequest) -> HttpResponse:
    return _api_key_page(request, ApiKeyCreateForm())


@member_view(Capability.MANAGE_API_KEYS)
@require_POST
def api_key_create_page(request: HttpRequest) -> HttpResponse:
    """Issue a key and show it in this response only: it is never stored (only its digest), so
    the page is not redirected to and never cached."""
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        try:
            issued = api_key_create(
                merchant=_merchant(request),
                mode=form.cleaned_data["mode"],
                name=form.cleaned_data["name"],
                created_by=request.user,
            )
        except DomainError as error:
            form.add_error(None, _key_refusal(error))
        else:
            return _api_key_page(request, ApiKeyCreateForm(), issued=issued)
    return _api_key_page(request, form)


def _api_key(request: HttpRequest, key_id: int) -> ApiKey:
    api_key = ApiKey.objects.filter(merchant=_merchant(request), pk=key_id).first()
    if api_key is None:
        raise Http404
    return api_key


@member_view(Capability.MANAGE_API_KEYS)
@require_POST
def api_key_rotate_page(request: HttpRequest, key_id: int) -> HttpResponse:
    old = _api_key(request, key_id)
    form = ApiKeyRotateForm(request.POST)
    revoke_old = form.is_valid() and form.cleaned_data["revoke_old"]
    try:
        issued = api_key_rotate(api_key=old, revoke_old=revoke_old, created_by=request.user)
    except DomainError as error:
        messages.error(request, _key_refusal(error))
        return redirect("bo:api_key_list")
    return _api_key_page(request, ApiKeyCreateForm(), issued=issued, replaced=old)


@member_view(Capability.MANAGE_API_KEYS)
@require_POST
def api_key_revoke_page(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = api_key_revoke(api_key=_api_key(request, key_id))
    messages.success(
        request,
        _("Key %(prefix)s revoked: requests with it are refused from now on.")
        % {"prefix": api_key.prefix},
    )
    return redirect("bo:api_key_list")


def _key_refusal(error: DomainError) -> str:
    if error.code == "invalid_transition" and "active" in error.message:
        return _("This merchant already holds two active keys of this mode; revoke one first.")
    if error.code == "invalid_transition":
        return _("A revoked key cannot be rotated.")
    return error.message
