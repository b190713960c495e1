"""Campaign writes: define, edit, submit, review, pause, resume, end, cancel, duplicate (DESIGN.md §4).

Every status change goes through ``_transition``, which holds the campaign's row lock, checks the
transition table and who may make it, and records an audit event in the same transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignEvent, CampaignStatus, Channel, Offer
from installments.selectors import fee_terms_in_force, platform_settings_in_force
from merchants.currencies import PLATFORM_CURRENCY
from merchants.errors import DomainError
from merchants.models import ApiKey, Merchant, Store

S = CampaignStatus
MERCHANT, OPERATOR, SYSTEM = (
    CampaignEvent.ActorKind.MERCHANT,
    CampaignEvent.ActorKind.OPERATOR,
    CampaignEvent.ActorKind.SYSTEM,
)

# (from, to) -> who may make it. Anything else is 409 invalid_transition (§4's table, exactly).
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (S.DRAFT, S.SUBMITTED): frozenset({MERCHANT}),
    (S.DRAFT, S.CANCELLED): frozenset({MERCHANT}),
    (S.SUBMITTED, S.APPROVED): frozenset({OPERATOR, SYSTEM}),
    (S.SUBMITTED, S.REJECTED): frozenset({OPERATOR}),
    (S.SUBMITTED, S.CANCELLED): frozenset({MERCHANT}),
    (S.REJECTED, S.DRAFT): frozenset({MERCHANT}),
    (S.REJECTED, S.CANCELLED): frozenset({MERCHANT}),
    (S.APPROVED, S.PAUSED): frozenset({MERCHANT}),
    (S.APPROVED, S.ENDED): frozenset({MERCHANT, SYSTEM}),
    (S.APPROVED, S.CANCELLED): frozenset({MERCHANT}),  # only before starts_at
    (S.PAUSED, S.APPROVED): frozenset({MERCHANT}),
    (S.PAUSED, S.ENDED): frozenset({MERCHANT, SYSTEM}),
}
FINAL = frozenset({S.ENDED, S.CANCELLED})
EDITABLE = frozenset({S.DRAFT})
# After approval only these may change, and only in one direction (§4).
CHANGEABLE_AFTER_APPROVAL = frozenset({"budget_total", "ends_at"})

MAX_OFFERS = 36
MAX_LIST_ITEMS = 500


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, for the transition rules and the audit trail."""

    kind: str
    label: str
    user: AbstractBaseUser | None = None

    @classmethod
    def merchant_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(MERCHANT, f"user {user.get_username()}", user)

    @classmethod
    def api_key(cls, api_key: ApiKey) -> Actor:
        return cls(MERCHANT, f"API key {api_key.prefix}")

    @classmethod
    def operator(cls, user: AbstractBaseUser | None, label: str | None = None) -> Actor:
        name = label or (f"operator {user.get_username()}" if user else "operator")
        return cls(OPERATOR, name, user)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(SYSTEM, job)


@dataclass(frozen=True, slots=True)
class OfferInput:
    term: int
    merchant_share_bp: int
    min_amount: int = 0


@dataclass(frozen=True, slots=True)
class CampaignInput:
    """Everything a merchant sets on a campaign. Amounts in minor units, times aware."""

    name: str
    starts_at: datetime
    ends_at: datetime
    offers: Sequence[OfferInput]
    budget_total: int
    description: str = ""
    all_products: bool = True
    categories: Sequence[str] = ()
    skus: Sequence[str] = ()
    exclude_skus: Sequence[str] = ()
    stores: Sequence[str] = ()
    channels: Sequence[str] = (Channel.ONLINE, Channel.IN_STORE)
    min_amount: int | None = None
    max_amount: int | None = None
    daily_cap: int | None = None
    alert_threshold_bp: int = 8000
    alert_emails: Sequence[str] = ()
    per_consumer_limit: int | None = None
    stacks_with_government_subsidy: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


SCALAR_FIELDS = (
    "name",
    "description",
    "starts_at",
    "ends_at",
    "all_products",
    "min_amount",
    "max_amount",
    "budget_total",
    "daily_cap",
    "alert_threshold_bp",
    "per_consumer_limit",
    "stacks_with_government_subsidy",
)
LIST_FIELDS = ("categories", "skus", "exclude_skus", "stores", "channels", "alert_emails")


def campaign_input_from(campaign: Campaign) -> CampaignInput:
    """The campaign's current settings, as an input (for partial updates and duplicates)."""
    return CampaignInput(
        **{name: getattr(campaign, name) for name in SCALAR_FIELDS},
        **{name: list(getattr(campaign, name)) for name in LIST_FIELDS},
        offers=[
            OfferInput(o.term, o.merchant_share_bp, o.min_amount)
            for o in campaign.offers.order_by("term", "min_amount")
        ],
    )


def campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    """A JSON-able picture of a campaign for the audit trail."""
    data: dict[str, Any] = {"status": campaign.status}
    for name in SCALAR_FIELDS:
        value = getattr(campaign, name)
        data[name] = value.isoformat() if isinstance(value, datetime) else value
    for name in LIST_FIELDS:
        data[name] = list(getattr(campaign, name))
    data["offers"] = [
        {"term": o.term, "merchant_share_bp": o.merchant_share_bp, "min_amount": o.min_amount}
        for o in campaign.offers.order_by("term", "min_amount")
    ]
    data["pending_budget_total"] = campaign.pending_budget_total
    return data


def window_time_exists(value: datetime) -> bool:
    """Whether an aware time exists in UTC, where it is stored and read back. A time at the calendar's
    very edge does not (0001-01-01 00:00 at +08:00 is in the year 0 in UTC): PostgreSQL would store
    it, and no page could read the campaign back."""
    try:
        value.astimezone(UTC)
    except (OverflowError, ValueError):
        return False
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(merchant: Merchant, data: CampaignInput, *, now: datetime) -> None:
    """Every rule a campaign's settings must satisfy; all problems are reported at once."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if not data.name or not data.name.strip():
        add("name", "A campaign needs a name.")
    elif len(data.name) > 60:
        add("name", "At most 60 characters.")
    if len(data.description) > 2000:
        add("description", "At most 2,000 characters.")
    if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
        add("starts_at", "Times need a time zone offset.")
    elif not window_time_exists(data.starts_at) or not window_time_exists(data.ends_at):
        for name in ("starts_at", "ends_at"):
            if not window_time_exists(getattr(data, name)):
                add(name, "A time within the calendar (years 1 to 9999, in UTC).")
    elif data.ends_at <= data.starts_at:
        add("ends_at", "The window must end after it starts.")

    # Offers, against the fee table in force when the campaign starts (or now, if it already has).
    pricing_at = max(now, data.starts_at) if data.starts_at.tzinfo else now
    terms = fee_terms_in_force(merchant_id=merchant.pk, at=pricing_at)
    if not data.offers:
        add("offers", "Add at least one offer.")
    elif len(data.offers) > MAX_OFFERS:
        add("offers", f"At most {MAX_OFFERS} offers.")
    seen: set[tuple[int, int]] = set()
    for index, offer in enumerate(data.offers):
        key = f"offers[{index}]"
        if not all(_is_int(v) for v in (offer.term, offer.merchant_share_bp, offer.min_amount)):
            add(key, "term, merchant_share_bp and min_amount are whole numbers.")
            continue
        if offer.term not in terms:
            offered = ", ".join(str(t) for t in terms) or "none"
            add(key, f"The platform does not offer {offer.term} terms (offered: {offered}).")
        elif offer.min_amount > terms[offer.term].max_amount:
            add(key, f"The minimum is above the platform's maximum for {offer.term} terms.")
        if not 1 <= offer.merchant_share_bp <= 10000:
            add(key, "The merchant share is 1–10000 basis points.")
        if offer.min_amount < 0:
            add(key, "The minimum cannot be negative.")
        if (offer.term, offer.min_amount) in seen:
            add(key, "Two offers on one term may not share a minimum.")
        seen.add((offer.term, offer.min_amount))

    # Scope.
    for name in ("categories", "skus", "exclude_skus", "stores"):
        values = getattr(data, name)
        if len(values) > MAX_LIST_ITEMS:
            add(name, f"At most {MAX_LIST_ITEMS} entries.")
        if any(not isinstance(v, str) or not v.strip() or len(v) > 64 for v in values):
            add(name, "Entries are non-empty codes of at most 64 characters.")
    if not data.all_products and not data.categories and not data.skus:
        add("scope", "Choose all products, or at least one category or SKU.")
    if data.stores:
        known = set(
            Store.objects.filter(merchant=merchant, code__in=list(data.stores)).values_list(
                "code", flat=True
            )
        )
        unknown = sorted(set(data.stores) - known)
        if unknown:
            add("stores", f"Unknown store codes: {', '.join(unknown)}.")
    if not data.channels:
        add("channels", "Choose at least one channel.")
    elif any(c not in Channel.values for c in data.channels):
        add("channels", "Channels are 'online' and 'in_store'.")

    # Order limits, within the platform's.
    if terms:
        platform_min = min(t.min_amount for t in terms.values())
        platform_max = max(t.max_amount for t in terms.values())
        for name in ("min_amount", "max_amount"):
            value = getattr(data, name)
            if value is None:
                continue
            if not _is_int(value) or value <= 0:
                add(name, "A positive amount in minor units.")
            elif not platform_min <= value <= platform_max:
                add(name, f"Must lie within the platform's limits ({platform_min}–{platform_max}).")
    if (
        _is_int(data.min_amount) and _is_int(data.max_amount) and data.max_amount < data.min_amount  # type: ignore[operator]
    ):
        add("max_amount", "The maximum is below the minimum.")

    # Budget.
    if not _is_int(data.budget_total) or data.budget_total <= 0:
        add("budget.total", "A positive amount in minor units.")
    if data.daily_cap is not None:
        if not _is_int(data.daily_cap) or data.daily_cap <= 0:
            add("budget.daily_cap", "A positive amount in minor units, or null.")
        elif _is_int(data.budget_total) and data.daily_cap > data.budget_total:
            add("budget.daily_cap", "The daily cap cannot exceed the total budget.")
    if not _is_int(data.alert_threshold_bp) or not 1 <= data.alert_threshold_bp <= 10000:
        add("budget.alert_threshold_bp", "1–10000 basis points.")
    for email in data.alert_emails:
        try:
            validate_email(email)
        except ValidationError:
            add("budget.alert_emails", f"{email!r} is not an e-mail address.")
    if data.per_consumer_limit is not None and (
        not _is_int(data.per_consumer_limit) or data.per_consumer_limit < 1
    ):
        add("per_consumer_limit", "At least 1, or null for no limit.")

    if errors:
        raise DomainError("validation_error", "The campaign is not valid.", errors=errors)


def campaign_validate(
    *, merchant: Merchant, data: CampaignInput, now: datetime | None = None
) -> None:
    """Check a campaign's settings without saving anything: the very rules ``campaign_create`` and
    ``campaign_update`` apply to a draft, all problems at once (``DomainError`` ``validation_error``
    with ``errors``). The back office's studio calls it as the merchant types."""
    _validate(merchant, data, now=now or timezone.now())


def _ensure_active(merchant: Merchant, actor: Actor) -> None:
    if actor.kind == MERCHANT and merchant.is_frozen:
        raise DomainError("merchant_frozen", "This merchant is frozen: campaigns cannot change.")


def _record(
    campaign: Campaign,
    *,
    action: str,
    actor: Actor,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str = "",
) -> CampaignEvent:
    return CampaignEvent.objects.create(
        campaign=campaign,
        merchant_id=campaign.merchant_id,
        action=action,
        actor_kind=actor.kind,
        actor_user=actor.user,
        actor_label=actor.label[:120],
        before=before,
        after=after,
        reason=reason,
    )


def _write(campaign: Campaign, data: CampaignInput) -> None:
    for name in SCALAR_FIELDS:
        value = getattr(data, name)
        setattr(campaign, name, value.strip() if name == "name" else value)
    for name in LIST_FIELDS:
        values = list(dict.fromkeys(getattr(data, name)))  # de-duplicated, order kept
        setattr(campaign, name, values)
    campaign.save()
    campaign.offers.all().delete()
    Offer.objects.bulk_create(
        Offer(
            campaign=campaign,
            merchant_id=campaign.merchant_id,
            term=o.term,
            merchant_share_bp=o.merchant_share_bp,
            min_amount=o.min_amount,
        )
        for o in data.offers
    )


@transaction.atomic
def campaign_create(
    *, merchant: Merchant, actor: Actor, data: CampaignInput, now: datetime | None = None
) -> Campaign:
    """Create a draft campaign (``now`` lets history be loaded as it happened, e.g. the demo)."""
    _ensure_active(merchant, actor)
    _validate(merchant, data, now=now or timezone.now())
    campaign = Campaign(merchant=merchant, created_by=actor.user)
    _write(campaign, data)
    _record(campaign, action="created", actor=actor, before=None, after=campaign_snapshot(campaign))
    return campaign


def _lock(campaign: Campaign) -> Campaign:
    return (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .get(pk=campaign.pk, merchant_id=campaign.merchant_id)
    )


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor: Actor, data: CampaignInput) -> Campaign:
    """Change a campaign's settings. A draft may change freely. An approved or paused campaign may
    only raise its budget and move its end later; a raise that takes the budget above the operator's
    auto-approval threshold waits for review while the campaign keeps running on its old budget."""
    locked = _lock(campaign)
    _ensure_active(locked.merchant, actor)
    now = timezone.now()
    current = campaign_input_from(locked)
    before = campaign_snapshot(locked)

    if locked.status in EDITABLE:
        _validate(locked.merchant, data, now=now)
        _write(locked, data)
        _record(
            locked, action="updated", actor=actor, before=before, after=campaign_snapshot(locked)
        )
        return locked

    if locked.status not in (S.APPROVED, S.PAUSED):
        hint = " Move it back to draft first." if locked.status == S.REJECTED else ""
        raise DomainError(
            "invalid_transition", f"A {locked.status} campaign cannot be edited.{hint}"
        )

    changed = {
        name
        for name in (*SCALAR_FIELDS, *LIST_FIELDS, "offers")
        if _normalised(getattr(data, name)) != _normalised(getattr(current, name))
    }
    frozen = sorted(changed - CHANGEABLE_AFTER_APPROVAL)
    if frozen:
        raise DomainError(
            "invalid_transition",
            "After approval a campaign may only raise its budget, end later, pause, resume or "
            "end; duplicate it to change anything else.",
            errors={name: ["Cannot change after approval."] for name in frozen},
        )
    if "ends_at" in changed:
        if data.ends_at < locked.ends_at:
            raise DomainError.validation("ends_at", "The end can only move later.")
        locked.ends_at = data.ends_at
    if "budget_total" in changed:
        _raise_budget(locked, data.budget_total, now=now)
    if changed:
        locked.save()
        _record(
            locked, action="updated", actor=actor, before=before, after=campaign_snapshot(locked)
        )
    return locked


def _normalised(value: Any) -> Any:
    """Compare lists as lists and offers as an unordered set of tiers."""
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, OfferInput) for v in value):
            return sorted(dataclasses.astuple(v) for v in value)
        return list(value)
    return value


def auto_approves(*, merchant: Merchant, budget_total: int, now: datetime) -> bool:
    """Whether a budget is within the operator's auto-approval threshold, so approved without a
    review (a new campaign's on submit, a raise on save).

    The threshold is an amount in the platform's currency (``PLATFORM_CURRENCY``, CNY), like the
    rest of its pricing. A budget in another currency is never compared with it: 800,000 JPY is not
    ¥8,000.00, and the platform holds no exchange rate to convert one into the other. Rather than
    guess, such a budget goes to an operator's review; a wrong guess would approve a budget the
    platform never meant to wave through."""
    if merchant.currency != PLATFORM_CURRENCY:
        return False
    return budget_total <= platform_settings_in_force(at=now).auto_approval_threshold


def _raise_budget(campaign: Campaign, new_total: int, *, now: datetime) -> None:
    if not _is_int(new_total) or new_total <= 0:
        raise DomainError.validation("budget.total", "A positive amount in minor units.")
    if new_total < campaign.budget_total:
        raise DomainError.validation("budget.total", "After approval the budget can only rise.")
    if not auto_approves(merchant=campaign.merchant, budget_total=new_total, now=now):
        campaign.pending_budget_total = new_total  # waits for review; the old budget keeps running
    else:
        if new_total > campaign.budget_total:
            campaign.alert_arm += 1  # a raise re-arms both alerts (§5); the row is locked
        campaign.budget_total = new_total
        # A larger raise already waiting for review keeps waiting.
        if campaign.pending_budget_total is not None and campaign.pending_budget_total <= new_total:
            campaign.pending_budget_total = None


@transaction.atomic
def campaign_budget_raise_review(
    *, campaign: Campaign, actor: Actor, approve: bool, reason: str = ""
) -> Campaign:
    """An operator approves (or turns down) a pending budget raise."""
    if actor.kind != OPERATOR:
        raise DomainError("permission_denied", "Only an operator reviews budget raises.")
    locked = _lock(campaign)
    if locked.pending_budget_total is None:
        raise DomainError("invalid_transition", "This campaign has no pending budget raise.")
    if not approve and not reason.strip():
        raise DomainError.validation("reason", "Say why the raise is turned down.")
    before = campaign_snapshot(locked)
    if approve:
        locked.budget_total = locked.pending_budget_total
        locked.alert_arm += 1  # a raise re-arms both alerts (§5); the row is locked
    locked.pending_budget_total = None
    locked.save()
    _record(
        locked,
        action="budget_raise_approved" if approve else "budget_raise_rejected",
        actor=actor,
        before=before,
        after=campaign_snapshot(locked),
        reason=reason.strip(),
    )
    return locked


def _transition(
    campaign: Campaign,
    *,
    to: str,
    actor: Actor,
    action: str,
    reason: str = "",
    now: datetime | None = None,
) -> Campaign:
    locked = _lock(campaign)
    if actor.kind == MERCHANT:
        _ensure_active(locked.merchant, actor)
    allowed = TRANSITIONS.get((locked.status, to))
    if allowed is None or actor.kind not in allowed:
        raise DomainError(
            "invalid_transition",
            f"A {locked.status} campaign cannot become {to}"
            + ("." if allowed is None else f" by a {actor.kind}."),
        )
    now = now or timezone.now()
    if to == S.ENDED and actor.kind == SYSTEM and now < locked.ends_at:
        raise DomainError("invalid_transition", "The platform ends a campaign only at ends_at.")
    if (locked.status, to) == (S.APPROVED, S.CANCELLED) and now >= locked.starts_at:
        raise DomainError(
            "invalid_transition", "A campaign that has started cannot be cancelled; end it instead."
        )
    before = campaign_snapshot(locked)
    locked.status = to
    if to == S.SUBMITTED:
        locked.submitted_at = now
    if to in (S.APPROVED, S.REJECTED) and before["status"] == S.SUBMITTED:
        locked.reviewed_at = now
        locked.rejection_reason = reason.strip() if to == S.REJECTED else ""
    locked.save()
    _record(
        locked,
        action=action,
        actor=actor,
        before=before,
        after=campaign_snapshot(locked),
        reason=reason,
    )
    return locked


@transaction.atomic
def campaign_submit(*, campaign: Campaign, actor: Actor, now: datetime | None = None) -> Campaign:
    """Send a draft for review. A budget at or below the operator's auto-approval threshold is
    approved at once."""
    locked = _lock(campaign)
    now = now or timezone.now()
    if locked.status == S.DRAFT:
        _validate(locked.merchant, campaign_input_from(locked), now=now)
        if locked.ends_at <= now:
            raise DomainError.validation("ends_at", "The window has already ended.")
    submitted = _transition(locked, to=S.SUBMITTED, actor=actor, action="submitted", now=now)
    if auto_approves(merchant=submitted.merchant, budget_total=submitted.budget_total, now=now):
        threshold = platform_settings_in_force(at=now).auto_approval_threshold
        return _transition(
            submitted,
            to=S.APPROVED,
            actor=Actor.system("auto-approval"),
            action="approved",
            reason=f"Budget at or below the auto-approval threshold ({threshold}).",
            now=now,
        )
    return submitted


def campaign_approve(*, campaign: Campaign, actor: Actor, now: datetime | None = None) -> Campaign:
    with transaction.atomic():
        return _transition(campaign, to=S.APPROVED, actor=actor, action="approved", now=now)


def campaign_reject(*, campaign: Campaign, actor: Actor, reason: str) -> Campaign:
    if not reason or not reason.strip():
        raise DomainError.validation("reason", "A rejection needs a reason.")
    with transaction.atomic():
        return _transition(campaign, to=S.REJECTED, actor=actor, action="rejected", reason=reason)


def campaign_reopen(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Move a rejected campaign back to draft so it can be edited and submitted again."""
    with transaction.atomic():
        return _transition(campaign, to=S.DRAFT, actor=actor, action="reopened")


def campaign_cancel(*, campaign: Campaign, actor: Actor) -> Campaign:
    with transaction.atomic():
        return _transition(campaign, to=S.CANCELLED, actor=actor, action="cancelled")


def campaign_pause(*, campaign: Campaign, actor: Actor) -> Campaign:
    with transaction.atomic():
        return _transition(campaign, to=S.PAUSED, actor=actor, action="paused")


def campaign_resume(*, campaign: Campaign, actor: Actor) -> Campaign:
    with transaction.atomic():
        return _transition(campaign, to=S.APPROVED, actor=actor, action="resumed")


def campaign_end(*, campaign: Campaign, actor: Actor) -> Campaign:
    with transaction.atomic():
        return _transition(campaign, to=S.ENDED, actor=actor, action="ended")


@transaction.atomic
def campaign_duplicate(*, campaign: Campaign, actor: Actor) -> Campaign:
    """A new draft with the same settings: the way to change what approval froze."""
    source = Campaign.objects.select_related("merchant").get(pk=campaign.pk)
    _ensure_active(source.merchant, actor)
    data = campaign_input_from(source)
    name = f"Copy of {source.name}"[:60]
    copy = Campaign(merchant=source.merchant, created_by=actor.user, duplicated_from=source)
    _write(copy, dataclasses.replace(data, name=name))
    _record(
        copy,
        action="duplicated",
        actor=actor,
        before=None,
        after=campaign_snapshot(copy),
        reason=f"from {source.pk}",
    )
    return copy


def campaigns_end_due(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """End every approved or paused campaign whose window is over. Idempotent: safe to re-run, and
    concurrent runs skip each other's rows."""
    now = now or timezone.now()
    ended = 0
    while True:
        with transaction.atomic():
            due: Iterable[Campaign] = list(
                Campaign.objects.select_for_update(skip_locked=True)
                .filter(status__in=[S.APPROVED, S.PAUSED], ends_at__lte=now)
                .order_by("ends_at", "id")[:batch_size]
            )
            for campaign in due:
                _transition(
                    campaign,
                    to=S.ENDED,
                    actor=Actor.system("end-of-window job"),
                    action="ended",
                    reason="The window closed.",
                )
                ended += 1
        if len(due) < batch_size:  # type: ignore[arg-type]
            return ended
