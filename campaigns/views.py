"""The back office's campaign pages (DESIGN.md §4, §10): the studio.

- the list, with status filters, search and budget-burn bars;
- the detail: results (plans, financed sales, subsidy per day as a chart, budget used and left, the
  term mix), when the budget runs out at the current pace, review decisions and the audit trail,
  and the lifecycle actions the campaign's state allows;
- the guided form to create and edit (basics → offers and tiers → scope and stores → budget and
  alerts → review), with inline validation and a live preview through one JSON endpoint.

Every write calls the services the API calls (``campaigns.services``), so the rules (what may
change after approval, the auto-approval) are theirs; every read is scoped to the current
merchant."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from backoffice.charts import daily_bar_chart
from backoffice.labels import label
from backoffice.listing import page_of
from backoffice.roles import Capability
from backoffice.selectors import REVIEW_ACTIONS, campaign_term_mix
from backoffice.templatetags.backoffice import money_text, share_bp
from backoffice.tenancy import member_view
from campaigns.filters import QUICK_STATUSES, CampaignFilter
from campaigns.forms import (
    STEPS,
    CampaignForm,
    PreviewBasketForm,
    campaign_form_initial,
    exponent_of,
    service_message,
)
from campaigns.models import Campaign, CampaignStatus
from campaigns.preview import (
    ABOVE_ORDER_MAXIMUM,
    BELOW_ORDER_MINIMUM,
    BELOW_TIER_MINIMUM,
    BUDGET_SHORT,
    NEEDS_LINES,
    NO_OFFER_ON_TERM,
    NOT_STACKING,
    NOTHING_IN_SCOPE,
    NOTHING_TO_WAIVE,
    OTHER_CHANNEL,
    OTHER_STORE,
    CampaignPreview,
    campaign_preview,
)
from campaigns.selectors import (
    PACE_DAYS,
    BudgetFigures,
    BudgetOutlook,
    ShownState,
    campaign_budget_figures,
    campaign_daily_subsidy,
    campaign_get,
    campaign_list,
    campaign_outlooks,
    campaign_shown_state,
    merchant_pricing,
)
from campaigns.services import (
    Actor,
    campaign_cancel,
    campaign_create,
    campaign_duplicate,
    campaign_end,
    campaign_input_from,
    campaign_pause,
    campaign_reopen,
    campaign_resume,
    campaign_submit,
    campaign_update,
    campaign_validate,
)
from installments.plan_models import Plan, PlanStatus
from installments.quotes import option_json
from installments.selectors import fee_terms_in_force, platform_settings_in_force
from merchants.currencies import PLATFORM_CURRENCY
from merchants.errors import DomainError
from merchants.models import Merchant, Store


def preview_reason_text(code: str, *, minimum: int | None, currency: str) -> str:
    """Why the campaign gives nothing (to the basket, or on one term), in the merchant's words."""
    if not code:
        return ""
    if code == BELOW_TIER_MINIMUM:
        return _("Applies from %(amount)s financed.") % {"amount": money_text(minimum, currency)}
    texts = {
        NOT_STACKING: _("Does not stack with a government subsidy."),
        OTHER_STORE: _("The basket is not in one of the campaign's stores."),
        OTHER_CHANNEL: _("The basket is not in the campaign's channel."),
        BELOW_ORDER_MINIMUM: _("Below the campaign's smallest order."),
        ABOVE_ORDER_MAXIMUM: _("Above the campaign's largest order."),
        NEEDS_LINES: _("The campaign covers chosen products: add a line with its category or SKU."),
        NOTHING_IN_SCOPE: _("No line of the basket is in the campaign's scope."),
        NO_OFFER_ON_TERM: _("No offer on this term."),
        BUDGET_SHORT: _("What is left of the budget does not cover this plan."),
        NOTHING_TO_WAIVE: _("Nothing to waive on this basket."),
    }
    return str(texts.get(code, code))


def preview_refusal_text(error: DomainError, *, currency: str) -> str:
    """A basket no term can finance (``below_minimum``/``above_maximum``) or an invalid basket."""
    if error.code == "below_minimum":
        return _("Below the smallest amount any term finances (%(amount)s).") % {
            "amount": money_text(error.extra.get("minimum"), currency)
        }
    if error.code == "above_maximum":
        return _("Above the largest amount any term finances (%(amount)s).") % {
            "amount": money_text(error.extra.get("maximum"), currency)
        }
    if error.errors.get("lines"):
        return _("The lines must add up to the order price.")
    if error.errors.get("government_subsidy"):
        return _("The government subsidy must be less than the price.")
    return service_message(error.message)


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign: Campaign
    state: str
    budget: BudgetFigures
    outlook: BudgetOutlook | None


@member_view()
def campaign_list_page(request: HttpRequest) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    filterset = CampaignFilter(request.GET or None, queryset=campaign_list(merchant=merchant))
    page = page_of(request, filterset.qs)
    now = timezone.now()
    # The rates are read once for the page, and only when a campaign on it may be live.
    pricing = None
    if any(c.status == CampaignStatus.APPROVED and c.starts_at <= now for c in page):
        pricing = merchant_pricing(merchant=merchant, at=now)
    campaigns = list(page)
    running = [
        c
        for c in campaigns
        if c.status == CampaignStatus.APPROVED and c.starts_at <= now < c.ends_at
    ]
    outlooks = campaign_outlooks(merchant=merchant, campaigns=running, at=now)
    rows = [
        CampaignRow(
            campaign=campaign,
            state=campaign_shown_state(campaign, merchant=merchant, at=now, pricing=pricing),
            budget=campaign_budget_figures(campaign, merchant=merchant),
            outlook=outlooks.get(campaign.pk),
        )
        for campaign in campaigns
    ]
    current = request.GET.get("status", "")
    query = request.GET.copy()
    query.pop("page", None)
    quick = []
    for code in ("", *QUICK_STATUSES):
        query["status"] = code
        quick.append((code, query.urlencode(), code == current))
    return render(
        request,
        "campaigns/campaign_list.html",
        {
            "merchant": merchant,
            "filter": filterset,
            "page": page,
            "rows": rows,
            "quick": quick,
            "pace_days": PACE_DAYS,
        },
    )


@member_view()
def campaign_detail_page(request: HttpRequest, campaign_id: str) -> HttpResponse:
    merchant = request.member.merchant  # type: ignore[attr-defined]
    campaign = campaign_get(merchant=merchant, campaign_id=campaign_id)
    if campaign is None:
        raise Http404
    now = timezone.now()
    results = (
        Plan.objects.filter(merchant=merchant, campaign=campaign, test=False)
        .exclude(status=PlanStatus.VOIDED)
        .aggregate(
            plans=Count("id"),
            financed=Coalesce(Sum("original_financed_amount"), 0),
            subsidy=Coalesce(Sum("merchant_subsidy"), 0),
            refunded_plans=Count("id", filter=Q(refunded_amount__gt=0)),
        )
    )
    stores = {
        store.code: store
        for store in Store.objects.filter(merchant=merchant, code__in=campaign.stores)
    }
    state = campaign_shown_state(campaign, merchant=merchant, at=now)
    daily = campaign_daily_subsidy(campaign, merchant=merchant, at=now)
    today = timezone.localdate(now)
    events = list(campaign.events.order_by("-created_at", "-id")[:50])
    for event in events:
        event.changes = event_changes(  # type: ignore[attr-defined]
            event.before, event.after, currency=merchant.currency
        )
        event.actor_shown, event.reason_shown = event_words(event)  # type: ignore[attr-defined]
    terms = campaign_term_mix(merchant=merchant, campaign=campaign)
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "merchant": merchant,
            "campaign": campaign,
            "state": state,
            "budget": campaign_budget_figures(campaign, merchant=merchant),
            "offers": list(campaign.offers.all()),
            "stores": [(code, stores.get(code)) for code in campaign.stores],
            "results": results,
            "outlook": campaign_outlooks(merchant=merchant, campaigns=[campaign], at=now)[
                campaign.pk
            ],
            "pace_days": PACE_DAYS,
            "running": state in (ShownState.LIVE, ShownState.BUDGET_SPENT),
            "daily": daily,
            "daily_chart": daily_bar_chart(
                [(point.day, point.amount) for point in daily],
                currency=merchant.currency,
                highlight=today,
            )
            if any(point.amount for point in daily)
            else None,
            "terms": terms,
            "terms_financed": sum(term.financed for term in terms),
            "events": events,
            "decisions": [e for e in events if e.action in REVIEW_ACTIONS],
            "actions": campaign_actions(campaign, now=now),
            "can_manage": request.member.can(Capability.MANAGE_CAMPAIGNS),  # type: ignore[attr-defined]
        },
    )


# What the audit trail shows in the merchant's currency, and the times it compares as instants (a
# snapshot writes a time with the offset it was given: the same instant in UTC and at +08:00).
MONEY_KEYS = frozenset(
    {"budget_total", "daily_cap", "min_amount", "max_amount", "pending_budget_total"}
)
TIME_KEYS = frozenset({"starts_at", "ends_at"})


def _time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _offer_words(offer: dict, currency: str) -> str:
    return _("%(term)s months: you pay %(share)s of the fee from %(minimum)s") % {
        "term": offer.get("term"),
        "share": share_bp(offer.get("merchant_share_bp")),
        "minimum": money_text(offer.get("min_amount") or 0, currency),
    }


def _shown(name: str, value: Any, *, currency: str) -> str:
    """A stored value as the merchant reads it: money in their currency, shares in percent, offers
    in words, times in their zone."""
    if value is None:
        return ""
    if name in MONEY_KEYS:
        return money_text(value, currency)
    if name == "alert_threshold_bp":
        return share_bp(value)
    if name in TIME_KEYS:
        moment = _time(value)
        return (
            date_format(timezone.localtime(moment), "DATETIME_FORMAT")
            if isinstance(moment, datetime)
            else str(value)
        )
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        if name == "offers":
            return "; ".join(
                _offer_words(offer, currency) for offer in value if isinstance(offer, dict)
            )
        return ", ".join(str(v) for v in value)
    return str(value)


SYSTEM_ACTORS = {
    "auto-approval": gettext_lazy("Automatic approval"),
    "end-of-window job": gettext_lazy("End of the window"),
}


def event_words(event: Any) -> tuple[str, str]:
    """Who made an audit event and why, in the merchant's language where the platform wrote them
    (the automatic approval, the end-of-window job); what people wrote stays as they wrote it."""
    actor = str(SYSTEM_ACTORS.get(event.actor_label, event.actor_label))
    reason = event.reason
    if event.actor_label == "auto-approval" and event.action == "approved":
        found = re.search(r"\((\d+)\)", reason)
        if found:
            # The threshold is the platform's, in its currency (``auto_approves``).
            reason = _("Its budget is within the auto-approval limit (%(amount)s).") % {
                "amount": money_text(int(found.group(1)), PLATFORM_CURRENCY)
            }
    elif event.actor_label == "end-of-window job" and reason == "The window closed.":
        reason = _("The window closed.")
    return actor, reason


def event_changes(
    before: dict | None, after: dict | None, *, currency: str
) -> list[tuple[str, str, str]]:
    """What an audit event changed, field by field (as the API names them, values as the merchant
    reads them); a time is changed only when the instant is."""

    def same(name: str) -> bool:
        old, new = before.get(name), after.get(name)  # type: ignore[union-attr]
        if name in TIME_KEYS:
            return _time(old) == _time(new)
        return old == new

    if not before or not after:
        return []
    return [
        (
            name,
            _shown(name, before.get(name), currency=currency),
            _shown(name, after.get(name), currency=currency),
        )
        for name in after
        if not same(name)
    ]


# -- The studio: create, edit, preview, act ----------------------------------------------------


def campaign_actions(campaign: Campaign, *, now: datetime) -> list[str]:
    """The lifecycle actions a merchant may take on the campaign now, in the order shown (§4's
    transition table; the services check it again)."""
    status = campaign.status
    actions = []
    if status == CampaignStatus.DRAFT:
        actions += ["edit", "submit", "cancel"]
    elif status == CampaignStatus.SUBMITTED:
        actions += ["cancel"]
    elif status == CampaignStatus.REJECTED:
        actions += ["reopen", "cancel"]
    elif status == CampaignStatus.APPROVED:
        actions += ["edit", "pause", "end"]
        if now < campaign.starts_at:
            actions.append("cancel")
    elif status == CampaignStatus.PAUSED:
        actions += ["edit", "resume", "end"]
    actions.append("duplicate")
    return actions


ACTIONS: dict[str, Callable[..., Campaign]] = {
    "submit": campaign_submit,
    "reopen": campaign_reopen,
    "pause": campaign_pause,
    "resume": campaign_resume,
    "end": campaign_end,
    "cancel": campaign_cancel,
    "duplicate": campaign_duplicate,
}


def _action_done(action: str, campaign: Campaign) -> str:
    name = campaign.name
    if action == "submit":
        if campaign.status == CampaignStatus.APPROVED:
            return _(
                "%(name)s was approved at once: its budget is within the auto-approval limit."
            ) % {"name": name}
        return _("%(name)s was sent for review.") % {"name": name}
    messages_by_action = {
        "reopen": _("%(name)s is a draft again: edit it and submit it."),
        "pause": _("%(name)s is paused: checkouts no longer get it."),
        "resume": _("%(name)s is running again."),
        "end": _("%(name)s has ended."),
        "cancel": _("%(name)s was cancelled."),
        "duplicate": _("%(name)s was created as a draft: change what you need and submit it."),
    }
    return messages_by_action[action] % {"name": name}


def _refusal(error: DomainError) -> str:
    """A lifecycle refusal in the merchant's words."""
    if error.code == "merchant_frozen":
        return _("This merchant is frozen by the platform: campaigns cannot change.")
    if error.code == "invalid_transition":
        return _("This campaign cannot do that in its current state (%(detail)s)") % {
            "detail": error.message
        }
    if error.errors:
        return " ".join(
            service_message(message) for messages in error.errors.values() for message in messages
        )
    return service_message(error.message)


@member_view(Capability.MANAGE_CAMPAIGNS)
@require_POST
def campaign_action(request: HttpRequest, campaign_id: str, action: str) -> HttpResponse:
    """Submit, reopen, pause, resume, end, cancel or duplicate, through the API's services."""
    merchant = request.member.merchant  # type: ignore[attr-defined]
    campaign = campaign_get(merchant=merchant, campaign_id=campaign_id)
    service = ACTIONS.get(action)
    if campaign is None or service is None:
        raise Http404
    try:
        result = service(campaign=campaign, actor=Actor.merchant_user(request.user))
    except DomainError as error:
        messages.error(request, _refusal(error))
        return redirect("bo:campaign_detail", campaign.pk)
    messages.success(request, _action_done(action, result))
    if action == "duplicate":
        return redirect("bo:campaign_edit", result.pk)
    return redirect("bo:campaign_detail", result.pk)


def _terms_and_stores(merchant: Merchant) -> tuple[list[int], list[tuple[str, str]]]:
    terms = sorted(fee_terms_in_force(merchant_id=merchant.pk, at=timezone.now()))
    stores = [
        (store.code, f"{store.code} · {store.name}")
        for store in Store.objects.filter(merchant=merchant, active=True).order_by("code")
    ]
    return terms, stores


def _studio_forms(
    request: HttpRequest, merchant: Merchant, campaign: Campaign | None
) -> tuple[CampaignForm, PreviewBasketForm]:
    terms, stores = _terms_and_stores(merchant)
    locked = campaign is not None and campaign.status in (
        CampaignStatus.APPROVED,
        CampaignStatus.PAUSED,
    )
    exponent = exponent_of(merchant.currency)
    initial = campaign_form_initial(campaign, exponent=exponent) if campaign else _new_initial()
    data = request.POST if request.method == "POST" else None
    form = CampaignForm(
        data,
        merchant=merchant,
        terms=terms,
        stores=stores,
        locked=locked,
        stored=campaign_input_from(campaign) if campaign else None,
        initial=initial,
    )
    preview = PreviewBasketForm(data, merchant=merchant, stores=stores)
    return form, preview


def _new_initial() -> dict[str, Any]:
    """A new campaign starts tomorrow at midnight and runs for 30 days (the merchant's zone)."""
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    starts = today + timedelta(days=1)
    return {"starts_at": starts, "ends_at": starts + timedelta(days=30)}


def _studio_page(
    request: HttpRequest,
    merchant: Merchant,
    campaign: Campaign | None,
    form: CampaignForm,
    preview: PreviewBasketForm,
    *,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "campaigns/campaign_form.html",
        {
            "merchant": merchant,
            "campaign": campaign,
            "form": form,
            "preview": preview,
            "steps": STEPS,
            "locked": form.locked,
            # Stated in the currency it is set in; only budgets in that currency are compared
            # with it (``campaigns.services.auto_approves``).
            "threshold": platform_settings_in_force(at=timezone.now()).auto_approval_threshold,
            "platform_currency": PLATFORM_CURRENCY,
            "auto_approval_applies": merchant.currency == PLATFORM_CURRENCY,
        },
        status=status,
    )


@member_view(Capability.MANAGE_CAMPAIGNS)
def campaign_create_page(request: HttpRequest) -> HttpResponse:
    """The guided form for a new campaign; saved as a draft, or saved and submitted at once."""
    merchant = request.member.merchant  # type: ignore[attr-defined]
    form, preview = _studio_forms(request, merchant, None)
    if request.method == "POST" and form.is_valid():
        actor = Actor.merchant_user(request.user)
        try:
            with transaction.atomic():
                campaign = campaign_create(
                    merchant=merchant, actor=actor, data=form.campaign_input()
                )
                if request.POST.get("intent") == "submit":
                    campaign = campaign_submit(campaign=campaign, actor=actor)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            if request.POST.get("intent") == "submit":
                messages.success(request, _action_done("submit", campaign))
            else:
                messages.success(
                    request, _("%(name)s was saved as a draft.") % {"name": campaign.name}
                )
            return redirect("bo:campaign_detail", campaign.pk)
    status = 400 if request.method == "POST" else 200
    return _studio_page(request, merchant, None, form, preview, status=status)


@member_view(Capability.MANAGE_CAMPAIGNS)
def campaign_edit_page(request: HttpRequest, campaign_id: str) -> HttpResponse:
    """Edit a draft freely; after approval only raise the budget or move the end later (the
    service refuses anything else, and the form shows the rest as read-only)."""
    merchant = request.member.merchant  # type: ignore[attr-defined]
    campaign = campaign_get(merchant=merchant, campaign_id=campaign_id)
    if campaign is None:
        raise Http404
    if campaign.status not in (
        CampaignStatus.DRAFT,
        CampaignStatus.APPROVED,
        CampaignStatus.PAUSED,
    ):
        messages.error(
            request,
            _("A campaign that is %(status)s cannot be edited.")
            % {"status": label("campaign_status", campaign.status)}
            + (" " + _("Move it back to draft first.") if campaign.status == "rejected" else ""),
        )
        return redirect("bo:campaign_detail", campaign.pk)
    form, preview = _studio_forms(request, merchant, campaign)
    if request.method == "POST" and form.is_valid():
        actor = Actor.merchant_user(request.user)
        try:
            with transaction.atomic():
                updated = campaign_update(
                    campaign=campaign, actor=actor, data=form.campaign_input()
                )
                if request.POST.get("intent") == "submit" and updated.status == "draft":
                    updated = campaign_submit(campaign=updated, actor=actor)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            if request.POST.get("intent") == "submit" and updated.status != "draft":
                messages.success(request, _action_done("submit", updated))
            elif updated.pending_budget_total:
                messages.success(
                    request,
                    _(
                        "Saved. The budget raise waits for review; the campaign runs on its current budget meanwhile."
                    ),
                )
            else:
                messages.success(request, _("%(name)s was saved.") % {"name": updated.name})
            return redirect("bo:campaign_detail", updated.pk)
    status = 400 if request.method == "POST" else 200
    return _studio_page(request, merchant, campaign, form, preview, status=status)


def _preview_json(
    preview: CampaignPreview, *, merchant: Merchant, budget_known: bool
) -> dict[str, Any]:
    currency = merchant.currency

    def money(amount: int | None) -> str:
        return money_text(amount, currency)

    terms = []
    for item in preview.terms:
        option = option_json(item.match)
        price = item.match.price
        first = price.schedule[0]
        rest = price.schedule[1] if len(price.schedule) > 1 else first
        terms.append(
            {
                **option,
                "applies": item.applies,
                "reason": preview_reason_text(
                    item.reason, minimum=item.tier_minimum, currency=currency
                ),
                "chosen_instead": _(
                    "At checkout your live campaign %(name)s is chosen on this term."
                )
                % {"name": item.chosen_instead}
                if item.chosen_instead
                else "",
                "plans_covered": item.plans_covered if budget_known else None,
                "display": {
                    "term": ngettext("%(n)d month", "%(n)d months", item.match.term)
                    % {"n": item.match.term},
                    "first": money(first.principal + first.fee),
                    "then": money(rest.principal + rest.fee),
                    "consumer_fee": money(price.consumer_fee),
                    "total_payable": money(price.total_payable),
                    "merchant_subsidy": money(price.merchant_subsidy),
                    "apr": f"{price.apr}%",
                    "schedule": [
                        {
                            "period": row.period,
                            "due_date": date_format(row.due_date, "SHORT_DATE_FORMAT"),
                            "amount": money(row.principal + row.fee),
                        }
                        for row in price.schedule
                    ],
                },
            }
        )
    return {
        "financed_amount": preview.matching.basket.financed_amount,
        "priced_on": preview.matching.purchase_date.isoformat(),
        "reason": preview_reason_text(preview.reason, minimum=None, currency=currency),
        "terms": terms,
        "terms_out_of_limits": list(preview.terms_out_of_limits),
        "display": {
            "financed_amount": money(preview.matching.basket.financed_amount),
            "priced_on": date_format(preview.matching.purchase_date, "DATE_FORMAT"),
        },
    }


@member_view(Capability.MANAGE_CAMPAIGNS)
@require_POST
def campaign_preview_json(request: HttpRequest) -> JsonResponse:
    """The studio's JSON endpoint (session and CSRF, like every form of the back office): the
    inline validation of the campaign form by the service's rules, and the live preview of the
    basket, priced by matching's ``offers_price`` and shown as the API's ``option_json``."""
    started = time.perf_counter()
    merchant = request.member.merchant  # type: ignore[attr-defined]
    campaign = None
    if request.POST.get("campaign"):
        campaign = campaign_get(merchant=merchant, campaign_id=request.POST["campaign"])
        if campaign is None:
            raise Http404
    form, basket_form = _studio_forms(request, merchant, campaign)
    if form.is_valid():
        try:
            campaign_validate(merchant=merchant, data=form.campaign_input())
        except DomainError as error:
            form.add_domain_error(error)
    body: dict[str, Any] = {"errors": form.errors_json(), "preview": None, "preview_errors": {}}
    if basket_form.is_valid():
        data, budget_known = form.draft_input()
        try:
            basket = basket_form.basket()
            result = campaign_preview(
                merchant=merchant, basket=basket, data=data, campaign=campaign
            )
        except DomainError as error:
            body["preview_errors"] = {
                "__all__": [preview_refusal_text(error, currency=merchant.currency)]
            }
        else:
            body["preview"] = _preview_json(result, merchant=merchant, budget_known=budget_known)
    else:
        body["preview_errors"] = {
            name: [str(message) for message in messages_]
            for name, messages_ in basket_form.errors.items()
        }
    response = JsonResponse(body)
    response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response
