"""Plans: commit, void and refund (DESIGN.md §3.4, §3.5, §5 and §6).

Each runs in one transaction with its money movements: the plan and its schedule, the budget
reservation (or reversal) and the ledger entry commit together or not at all. Test-mode plans are
priced and checked the same way but never touch budgets or the ledger."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.alerts import alert_budget_refused
from campaigns.budgets import LACK_OF_BUDGET, BudgetRefused, budget_charge, budget_reverse
from campaigns.matching import Basket, Matching, TermMatch, offers_match
from campaigns.models import Campaign
from installments.calculator import (
    CalculationError,
    PlanPrice,
    Rounding,
    reprice_after_refund,
    returned_lines_apply,
)
from installments.calculator import PlanLine as PricedLine
from installments.ledger_models import LedgerEntry
from installments.plan_models import Plan, PlanInstallment, PlanLine, PlanStatus, Refund
from installments.quotes import QuotedOffer, option_json, quote_open
from installments.settlement import SETTLEMENT_LOCK_NAMESPACE
from merchants.errors import DomainError
from merchants.models import Merchant

# A void is for a checkout whose payment failed after the commit (§3.5).
VOID_WINDOW = timedelta(hours=24)


def _offer_changed(match: TermMatch | None) -> DomainError:
    return DomainError(
        "offer_changed",
        "The offer is no longer the same; here it is as it now stands.",
        option=option_json(match) if match else None,
    )


def _rematch(merchant: Merchant, basket: Basket, at: datetime) -> Matching | None:
    try:
        return offers_match(merchant=merchant, basket=basket, at=at)
    except DomainError as exc:
        if exc.code in ("below_minimum", "above_maximum"):
            return None  # the limits moved since the quote: no option stands any more
        raise


def _constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def plan_commit(
    *,
    merchant: Merchant,
    test: bool,
    quote_id: str,
    term: int,
    merchant_order_ref: str,
    now: datetime | None = None,
) -> Plan:
    """Commit the quoted option for ``term``: re-price it from the quote's inputs at the server's
    clock, and if the offer is the same (campaign, C and M), create the plan with its schedule and
    reserve and charge its subsidy, all in one transaction.

    Raises ``merchant_frozen``, ``not_found`` (not this merchant's quote), ``quote_expired``,
    ``validation_error`` (the quote has no such term), ``duplicate_order_ref`` and ``offer_changed``
    (with the option as it now stands, or ``None``)."""
    if merchant.is_frozen:
        raise DomainError("merchant_frozen", "This merchant is frozen.")
    now = now or timezone.now()
    opened = quote_open(merchant=merchant, test=test, quote_id=quote_id, now=now)
    quoted = opened.offers.get(term)
    if quoted is None:
        offered = ", ".join(str(t) for t in sorted(opened.offers)) or "none"
        raise DomainError.validation("term", f"This quote has no {term}-term option ({offered}).")
    if Plan.objects.filter(
        merchant=merchant, test=test, merchant_order_ref=merchant_order_ref
    ).exists():
        raise DomainError("duplicate_order_ref", "A plan with this merchant_order_ref exists.")

    matching = _rematch(merchant, opened.basket, now)
    match = matching.for_term(term) if matching else None
    if match is None or QuotedOffer.of(match) != quoted:
        raise _offer_changed(match)
    assert matching is not None
    try:
        with transaction.atomic():
            plan = _plan_create(
                merchant=merchant,
                test=test,
                merchant_order_ref=merchant_order_ref,
                currency=opened.currency,
                matching=matching,
                match=match,
                now=now,
            )
    except BudgetRefused as refused:
        if refused.reason in LACK_OF_BUDGET and match.offer is not None:
            alert_budget_refused(merchant_id=merchant.pk, campaign_id=match.offer.campaign_id)
        again = _rematch(merchant, opened.basket, now)
        raise _offer_changed(again.for_term(term) if again else None) from refused
    except IntegrityError as exc:
        if _constraint(exc) == "plan_order_ref_unique":
            raise DomainError(
                "duplicate_order_ref", "A plan with this merchant_order_ref exists."
            ) from exc
        raise
    return plan


def _plan_create(
    *,
    merchant: Merchant,
    test: bool,
    merchant_order_ref: str,
    currency: str,
    matching: Matching,
    match: TermMatch,
    now: datetime,
) -> Plan:
    basket, price, rates, offer = matching.basket, match.price, match.rates, match.offer
    lines = basket.lines or ()
    if offer is not None:
        in_scope_flags = offer.lines_in_scope or tuple(True for _ in lines)
        in_scope_total = offer.in_scope_total
    else:
        in_scope_flags = tuple(True for _ in lines)
        in_scope_total = basket.amount
    # A plan priced without lines has A = P and L = E (§3.4).
    order_amount_remaining = basket.amount if lines else price.principal
    in_scope_remaining = in_scope_total if lines else price.eligible
    plan = Plan.objects.create(
        id=uuid.uuid4(),
        merchant=merchant,
        test=test,
        merchant_order_ref=merchant_order_ref,
        consumer_ref=basket.consumer_ref or "",
        store=basket.store or "",
        channel=basket.channel or "",
        currency=currency,
        term=match.term,
        order_amount=basket.amount,
        government_subsidy=basket.government_subsidy,
        original_financed_amount=price.principal,
        financed_amount=price.principal,
        eligible_amount=price.eligible,
        consumer_fee_full=price.consumer_fee_full,
        waived_fee=price.waived_fee,
        consumer_fee=price.consumer_fee,
        merchant_subsidy=price.merchant_subsidy,
        apr=price.apr or "0.00",
        order_amount_remaining=order_amount_remaining,
        in_scope_remaining=in_scope_remaining,
        consumer_rate=rates.consumer_rate,
        merchant_rate=rates.merchant_rate,
        share_bp=offer.share_bp if offer else 0,
        statement_day=matching.platform.statement_day,
        due_day=matching.platform.due_day,
        rounding=matching.platform.rounding.value,
        purchase_date=matching.purchase_date,
        fee_table_id=rates.fee_table_id,
        fee_override_id=rates.override_id,
        platform_settings_id=matching.platform.version_id,
        campaign_id=offer.campaign_id if offer else None,
        campaign_name=offer.campaign_name if offer else "",
        offer_id=offer.offer_id if offer else None,
        offer_min_amount=offer.offer_min_amount if offer else None,
        charge_day=matching.purchase_date if offer else None,
        created_at=now,
    )
    installments = _schedule_replace(plan, price, first=True)
    plan_lines = PlanLine.objects.bulk_create(
        PlanLine(
            plan=plan,
            merchant=merchant,
            position=position,
            sku=line.sku,
            category=line.category,
            amount=line.amount,
            in_scope=flag,
        )
        for position, (line, flag) in enumerate(zip(lines, in_scope_flags, strict=True), 1)
    )
    # The response shows both; hand them over instead of reading them back (the commit may hold a
    # hot campaign's lock by then).
    _hand_over(plan, installments=installments, lines=plan_lines)
    if offer is not None and not test:
        campaign = Campaign.objects.get(pk=offer.campaign_id, merchant=merchant)
        campaign.merchant = merchant
        # Its charge day is the merchant-local date of ``now``: the plan's purchase date.
        budget_charge(
            campaign=campaign,
            amount=price.merchant_subsidy,
            plan_id=plan.pk,
            charged_at=now,
            consumer_ref=basket.consumer_ref,
            require_live=True,
        )
    return plan


def _hand_over(plan: Plan, **related: list) -> None:
    """Give ``plan.<name>.all()`` the rows just written, as a prefetch would."""
    cache = plan.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in related.items():
        queryset = getattr(plan, name).get_queryset()
        queryset._result_cache = rows
        queryset._prefetch_done = True
        cache[name] = queryset


def _schedule_replace(
    plan: Plan, price: PlanPrice, *, first: bool = False
) -> list[PlanInstallment]:
    if not first:
        PlanInstallment.objects.filter(merchant_id=plan.merchant_id, plan=plan).delete()
    return PlanInstallment.objects.bulk_create(
        PlanInstallment(
            plan=plan,
            merchant_id=plan.merchant_id,
            period=item.period,
            due_date=item.due_date,
            principal=item.principal,
            fee=item.fee,
        )
        for item in price.schedule
    )


def plan_get(*, merchant: Merchant, test: bool, plan_id: object) -> Plan | None:
    """The merchant's plan of this key mode, or None (another merchant's id is not found)."""
    try:
        pk = plan_id if isinstance(plan_id, uuid.UUID) else uuid.UUID(str(plan_id))
    except ValueError:
        return None
    return Plan.objects.filter(merchant=merchant, test=test, pk=pk).first()


def _plan_locked(*, merchant: Merchant, test: bool, plan_id: object) -> Plan:
    plan = plan_get(merchant=merchant, test=test, plan_id=plan_id)
    if plan is None:
        raise DomainError("not_found", "No such plan.")
    return Plan.objects.select_for_update().get(pk=plan.pk, merchant=merchant)


def _plan_campaign(plan: Plan, merchant: Merchant) -> Campaign:
    campaign = Campaign.objects.get(pk=plan.campaign_id, merchant=merchant)
    campaign.merchant = merchant
    return campaign


def _consumer_released(plan: Plan, campaign: Campaign) -> str | None:
    """The consumer whose plan count a void or full refund gives back (§3.5), when it was counted."""
    if plan.consumer_ref and campaign.per_consumer_limit is not None:
        return plan.consumer_ref
    return None


def plan_void(
    *, merchant: Merchant, test: bool, plan_id: object, now: datetime | None = None
) -> Plan:
    """Cancel a plan within 24 hours of its commit, before its charge is settled (§3.5): what
    remains of its subsidy is reversed and released, its installments are removed.
    ``plan_not_voidable`` otherwise. Works for frozen merchants too."""
    now = now or timezone.now()
    with transaction.atomic():
        plan = _plan_locked(merchant=merchant, test=test, plan_id=plan_id)
        if plan.status != PlanStatus.ACTIVE:
            raise DomainError("plan_not_voidable", f"The plan is {plan.status}.")
        if now - plan.created_at > VOID_WINDOW:
            raise DomainError(
                "plan_not_voidable", "A plan can only be voided within 24 hours of its commit."
            )
        if plan.campaign_id and not test and _charge_settled(plan):
            raise DomainError(
                "plan_not_voidable", "The plan's charge is already settled; refund it instead."
            )
        if plan.campaign_id and not test:
            campaign = _plan_campaign(plan, merchant)
            budget_reverse(
                campaign=campaign,
                amount=plan.merchant_subsidy,
                plan_id=plan.pk,
                charge_day=plan.charge_day,
                consumer_ref=_consumer_released(plan, campaign),
                recorded_at=now,
            )
        plan.status = PlanStatus.VOIDED
        plan.voided_at = now
        plan.save(update_fields=["status", "voided_at", "updated_at"])
        PlanInstallment.objects.filter(merchant=merchant, plan=plan).delete()
    return plan


def _charge_settled(plan: Plan) -> bool:
    """Whether a statement took the plan's charge. The merchant's settlement lock is taken first,
    so a run settling this merchant right now finishes before (or starts after) this answer."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [SETTLEMENT_LOCK_NAMESPACE, str(plan.merchant_id)],
        )
    return LedgerEntry.objects.filter(
        merchant_id=plan.merchant_id, plan_id=plan.pk, kind="charge", statement__isnull=False
    ).exists()


def _current_price(plan: Plan) -> PlanPrice:
    return PlanPrice(
        principal=plan.financed_amount,
        term=plan.term,
        eligible=plan.eligible_amount,
        consumer_fee_full=plan.consumer_fee_full,
        waived_fee=plan.waived_fee,
        consumer_fee=plan.consumer_fee,
        merchant_subsidy=plan.merchant_subsidy,
        apr=plan.apr,
        schedule=(),
    )


def plan_refund(
    *,
    merchant: Merchant,
    test: bool,
    plan_id: object,
    amount: int,
    refund_ref: str,
    lines: list[tuple[str, int]] | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Refund:
    """Refund ``amount`` of a plan's principal, naming the returned lines or not, and re-price it
    (§3.4): the schedule is rebuilt, the subsidy the refund releases goes back to the campaign's
    budget (to the day the plan was charged) and the ledger. One refund at a time per plan (the
    plan row is locked), so parallel refunds never take more than the principal.

    Raises ``not_found``, ``duplicate_refund_ref``, ``refund_exceeds_balance`` and
    ``validation_error`` (returned lines that do not match the plan's)."""
    now = now or timezone.now()
    try:
        return _refund(
            merchant=merchant,
            test=test,
            plan_id=plan_id,
            amount=amount,
            refund_ref=refund_ref,
            lines=lines,
            reason=reason,
            now=now,
        )
    except IntegrityError as exc:
        if _constraint(exc) == "refund_ref_unique":
            raise DomainError(
                "duplicate_refund_ref", "A refund with this refund_ref exists."
            ) from exc
        raise


@transaction.atomic
def _refund(
    *,
    merchant: Merchant,
    test: bool,
    plan_id: object,
    amount: int,
    refund_ref: str,
    lines: list[tuple[str, int]] | None,
    reason: str,
    now: datetime,
) -> Refund:
    plan = _plan_locked(merchant=merchant, test=test, plan_id=plan_id)
    if Refund.objects.filter(merchant=merchant, test=test, refund_ref=refund_ref).exists():
        raise DomainError("duplicate_refund_ref", "A refund with this refund_ref exists.")
    remaining = plan.financed_amount if plan.status == PlanStatus.ACTIVE else 0
    if amount > remaining:
        raise DomainError(
            "refund_exceeds_balance",
            f"The plan has {remaining} left to refund.",
            remaining=remaining,
        )
    plan_lines = list(plan.lines.all())
    order_after, in_scope_after = plan.order_amount_remaining, plan.in_scope_remaining
    returned = None
    if lines:
        if not plan_lines:
            raise DomainError.validation("lines", "This plan was committed without lines.")
        try:
            returned = returned_lines_apply(
                plan_lines=[
                    PricedLine(line.sku, line.category, line.amount, line.in_scope)
                    for line in plan_lines
                ],
                returned=[line.returned for line in plan_lines],
                refund_lines=lines,
            )
        except CalculationError as exc:
            raise DomainError.validation("lines", exc.message) from exc
        order_after -= returned.order_amount_reduction
        in_scope_after -= returned.in_scope_reduction
    try:
        result = reprice_after_refund(
            current=_current_price(plan),
            refund_amount=amount,
            order_amount_after=order_after,
            in_scope_after=in_scope_after,
            consumer_rate=plan.consumer_rate,
            merchant_rate=plan.merchant_rate,
            share_bp=plan.share_bp,
            purchase_date=plan.purchase_date,
            statement_day=plan.statement_day,
            due_day=plan.due_day,
            rounding=Rounding(plan.rounding),
        )
    except CalculationError as exc:
        raise DomainError.validation(exc.field or "amount", exc.message) from exc
    repriced = result.plan
    full = repriced.principal == 0
    if plan.campaign_id and not test and (result.subsidy_reversed or full):
        campaign = _plan_campaign(plan, merchant)
        budget_reverse(
            campaign=campaign,
            amount=result.subsidy_reversed,
            plan_id=plan.pk,
            charge_day=plan.charge_day,
            consumer_ref=_consumer_released(plan, campaign) if full else None,
            recorded_at=now,
        )
    financed_before = plan.financed_amount
    plan.financed_amount = repriced.principal
    plan.eligible_amount = repriced.eligible
    plan.consumer_fee_full = repriced.consumer_fee_full
    plan.waived_fee = repriced.waived_fee
    plan.consumer_fee = repriced.consumer_fee
    plan.merchant_subsidy = repriced.merchant_subsidy
    plan.apr = repriced.apr or "0.00"
    plan.refunded_amount += amount  # the row is locked: no lost update
    plan.order_amount_remaining = order_after
    plan.in_scope_remaining = in_scope_after
    if full:
        plan.status = PlanStatus.REFUNDED
    plan.save()
    _schedule_replace(plan, repriced)
    if returned is not None:
        for line, total in zip(plan_lines, returned.returned, strict=True):
            line.returned = total
        PlanLine.objects.bulk_update(plan_lines, ["returned"])
    refund = Refund.objects.create(
        plan=plan,
        merchant=merchant,
        test=test,
        refund_ref=refund_ref,
        amount=amount,
        lines=[{"sku": sku, "amount": value} for sku, value in lines or ()],
        reason=reason,
        subsidy_reversed=result.subsidy_reversed,
        financed_before=financed_before,
        financed_after=repriced.principal,
        consumer_fee_after=repriced.consumer_fee,
        merchant_subsidy_after=repriced.merchant_subsidy,
        created_at=now,
    )
    return refund
