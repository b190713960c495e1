"""Demo data for ``make run``: realistic, idempotent, and built through the same services as
everything else (DESIGN.md §9). Later parts of the product add their own demo records here."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignEvent
from campaigns.services import (
    Actor,
    CampaignInput,
    OfferInput,
    campaign_approve,
    campaign_cancel,
    campaign_create,
    campaign_end,
    campaign_pause,
    campaign_reject,
    campaign_submit,
)
from merchants.models import Membership, Merchant, Store
from merchants.services import membership_set, store_create

DEMO_MERCHANT_ID = uuid.UUID("5eed0000-0000-4000-8000-000000000001")
DEMO_OWNER = ("demo-owner", "demo-owner-pass-2026")
DEMO_OPERATOR = ("operator", "operator-pass-2026")

DEMO_STORES = [
    ("SH-NJW", "Nanjing Road flagship", "Shanghai"),
    ("SH-XJH", "Xujiahui", "Shanghai"),
    ("BJ-WFJ", "Wangfujing", "Beijing"),
    ("SZ-HQB", "Huaqiangbei", "Shenzhen"),
    ("GZ-TH", "Tianhe", "Guangzhou"),
]


@dataclass(frozen=True)
class DemoLogins:
    owner: tuple[str, str]
    operator: tuple[str, str]
    merchant_id: uuid.UUID

    def as_json(self) -> dict[str, object]:
        return {
            "owner": {"username": self.owner[0], "password": self.owner[1]},
            "operator": {"username": self.operator[0], "password": self.operator[1]},
            "merchant_id": str(self.merchant_id),
        }


def _user(username: str, password: str, *, email: str, staff: bool) -> object:
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    user.email = email
    user.is_staff = staff
    user.is_superuser = staff
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def demo_load() -> DemoLogins:
    """Load (or refresh) the demo; running it again changes nothing but the demo passwords."""
    merchant, _ = Merchant.objects.get_or_create(
        pk=DEMO_MERCHANT_ID,
        defaults={
            "name": "Lumen Electronics",
            "legal_name": "Lumen Electronics (Shanghai) Co., Ltd.",
            "currency": "CNY",
            "timezone": "Asia/Shanghai",
        },
    )
    existing = set(Store.objects.filter(merchant=merchant).values_list("code", flat=True))
    for code, name, city in DEMO_STORES:
        if code not in existing:
            store_create(merchant=merchant, code=code, name=name, city=city)

    owner = _user(*DEMO_OWNER, email="owner@lumen.example", staff=False)
    membership_set(merchant=merchant, user=owner, role=Membership.Role.OWNER)
    operator = _user(*DEMO_OPERATOR, email="ops@platform.example", staff=True)
    _demo_campaigns(merchant, owner=owner, operator=operator)
    _demo_history(merchant, owner=owner, operator=operator)
    _date_demo_events(merchant)
    return DemoLogins(owner=DEMO_OWNER, operator=DEMO_OPERATOR, merchant_id=merchant.pk)


def _window(days_from_now: int, length_days: int) -> tuple[datetime, datetime]:
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    start = today + timedelta(days=days_from_now)
    return start, start + timedelta(days=length_days)


def _demo_campaigns(merchant: Merchant, *, owner: object, operator: object) -> None:
    """One campaign in every state, each reached through the lifecycle services."""
    if Campaign.objects.filter(merchant=merchant).exists():
        return
    staff = Actor.merchant_user(owner)  # type: ignore[arg-type]
    reviewer = Actor.operator(operator)  # type: ignore[arg-type]

    def make(name: str, *, window: tuple[datetime, datetime], budget: int, offers, **scope):  # type: ignore[no-untyped-def]
        start, end = window
        data = CampaignInput(
            name=name,
            starts_at=start,
            ends_at=end,
            offers=[OfferInput(*o) for o in offers],
            budget_total=budget,
            **scope,
        )
        return campaign_create(merchant=merchant, actor=staff, data=data)

    phones = {"all_products": False, "categories": ["phones"], "exclude_skus": ["P70-REFURB"]}
    live = make(
        "Year-end phones 12 periods free",
        window=_window(-10, 40),
        budget=800_000,
        offers=[(12, 5000, 100_000), (12, 10000, 300_000), (6, 10000, 10_000)],
        **phones,
    )
    campaign_submit(campaign=live, actor=staff)  # auto-approved: at or below the threshold

    store_wide = make(
        "Store-wide 3 periods free",
        window=_window(-5, 30),
        budget=5_000_000,
        offers=[(3, 10000, 10_000)],
        daily_cap=300_000,
    )
    campaign_approve(campaign=campaign_submit(campaign=store_wide, actor=staff), actor=reviewer)

    spring = make(
        "Spring Festival appliances",
        window=_window(40, 20),
        budget=600_000,
        offers=[(12, 10000, 200_000)],
        all_products=False,
        categories=["appliances"],
    )
    campaign_submit(campaign=spring, actor=staff)  # scheduled

    laptops = make(
        "Laptops for graduates",
        window=_window(-20, 60),
        budget=400_000,
        offers=[(6, 10000, 50_000)],
        all_products=False,
        categories=["laptops"],
    )
    campaign_pause(campaign=campaign_submit(campaign=laptops, actor=staff), actor=staff)

    singles = make(
        "Singles' Day phones",
        window=_window(-2, 20),
        budget=900_000,
        offers=[(12, 10000, 300_000)],
        **phones,
    )
    campaign_end(campaign=campaign_submit(campaign=singles, actor=staff), actor=staff)

    review = make(
        "Flagship store TVs",
        window=_window(3, 30),
        budget=20_000_000,
        offers=[(12, 10000, 500_000)],
        all_products=False,
        categories=["tv"],
        stores=["SH-NJW"],
        channels=["in_store"],
    )
    campaign_submit(campaign=review, actor=staff)  # above the threshold: waits for an operator

    rejected = make(
        "Everything free forever",
        window=_window(1, 300),
        budget=50_000_000,
        offers=[(12, 10000, 10_000)],
    )
    campaign_reject(
        campaign=campaign_submit(campaign=rejected, actor=staff),
        actor=reviewer,
        reason="The budget is far above this merchant's monthly sales; propose a smaller one.",
    )

    cancelled = make(
        "Cameras weekend", window=_window(7, 2), budget=100_000, offers=[(3, 10000, 10_000)]
    )
    campaign_cancel(campaign=cancelled, actor=staff)

    make(
        "Headphones bundle (draft)",
        window=_window(14, 14),
        budget=200_000,
        offers=[(6, 5000, 20_000)],
        all_products=False,
        skus=["LX-H1", "LX-H2"],
    )


# --------------------------------------------------------------------------------------------------
# History: two months of checkouts, refunds and voids, settled night by night (DESIGN.md §9), so the
# dashboard and the statements show something true on first run. Deterministic (a fixed seed).

HISTORY_DAYS = 60
CATALOGUE = [
    ("LX-P70", "phones", 599_900),
    ("LX-P60", "phones", 399_900),
    ("P70-REFURB", "phones", 299_900),
    ("LX-BOOK-14", "laptops", 899_900),
    ("LX-AIR-13", "laptops", 649_900),
    ("LX-FRIDGE", "appliances", 459_900),
    ("LX-WASHER", "appliances", 329_900),
    ("LX-TV65", "tv", 799_900),
    ("LX-CASE", "accessories", 19_900),
    ("LX-H1", "accessories", 89_900),
]


def _date_demo_events(merchant: Merchant) -> None:
    """The demo's campaigns are made in one go; date the history of those that have already started
    before their start, in order, as a merchant would have made them."""
    for campaign in Campaign.objects.filter(merchant=merchant, starts_at__lt=timezone.now()):
        made = campaign.starts_at - timedelta(days=2)
        before_start = CampaignEvent.objects.filter(
            campaign=campaign, action__in=["created", "submitted", "approved"]
        )
        for step, event in enumerate(before_start):
            if event.created_at > campaign.starts_at:
                at = made + timedelta(minutes=10 * step)
                CampaignEvent.objects.filter(pk=event.pk).update(created_at=at)
        Campaign.objects.filter(pk=campaign.pk, created_at__gt=made).update(created_at=made)


def _demo_history(merchant: Merchant, *, owner: object, operator: object) -> None:
    from campaigns.matching import Basket, BasketLine
    from campaigns.services import campaigns_end_due
    from installments.plan_models import Plan
    from installments.plans import plan_commit, plan_refund, plan_void
    from installments.quotes import quote_create
    from installments.settlement import settlement_run_for_date

    if Plan.objects.filter(merchant=merchant).exists():
        return
    staff = Actor.merchant_user(owner)  # type: ignore[arg-type]
    reviewer = Actor.operator(operator)  # type: ignore[arg-type]
    tz = timezone.get_default_timezone()  # the demo merchant's zone is Shanghai's
    now = timezone.now()
    first_day = timezone.localtime(now, tz).date() - timedelta(days=HISTORY_DAYS)

    def past_campaign(name: str, start: int, length: int, budget: int, offers, **scope) -> None:  # type: ignore[no-untyped-def]
        begins = datetime.combine(first_day + timedelta(days=start), datetime.min.time(), tz)
        data = CampaignInput(
            name=name,
            starts_at=begins,
            ends_at=begins + timedelta(days=length),
            offers=[OfferInput(*o) for o in offers],
            budget_total=budget,
            **scope,
        )
        created = begins - timedelta(days=3)  # made ahead of its window, as merchants do
        campaign = campaign_create(merchant=merchant, actor=staff, data=data, now=created)
        campaign = campaign_submit(campaign=campaign, actor=staff, now=created)
        if campaign.status == "submitted":
            campaign_approve(campaign=campaign, actor=reviewer, now=created)
        Campaign.objects.filter(pk=campaign.pk).update(created_at=created)
        CampaignEvent.objects.filter(campaign=campaign).update(created_at=created)

    past_campaign(
        "Autumn phones 12 periods free",
        0,
        35,
        3_000_000,
        [(12, 10000, 100_000), (6, 10000, 10_000)],
        all_products=False,
        categories=["phones"],
        exclude_skus=["P70-REFURB"],
    )
    past_campaign(
        "Back to school laptops",
        5,
        30,
        1_500_000,
        [(12, 5000, 300_000), (6, 10000, 50_000)],
        all_products=False,
        categories=["laptops"],
    )
    past_campaign(
        "Trade-in appliances",
        20,
        38,
        900_000,
        [(12, 10000, 200_000)],
        all_products=False,
        categories=["appliances"],
        stacks_with_government_subsidy=True,
    )

    rng = random.Random(20261111)
    stores = [code for code, _, _ in DEMO_STORES]
    pending_refunds: list[tuple[datetime, object, int]] = []
    sequence = 0
    for offset in range(HISTORY_DAYS + 1):
        day = first_day + timedelta(days=offset)
        moments = sorted(
            datetime.combine(day, datetime.min.time(), tz)
            + timedelta(hours=rng.randint(9, 21), minutes=rng.randint(0, 59))
            for _ in range(rng.randint(2, 6))
        )
        for index, moment in enumerate(moments):
            if moment >= now:
                break
            if offset == HISTORY_DAYS - 20 and index == len(moments) // 2:
                # Once, an operator settled a day early: what came later that day went into the
                # next statement as an adjustment.
                settlement_run_for_date(business_date=day, requested_by="demo", inline=True)
            sequence += 1
            lines = rng.sample(CATALOGUE, k=rng.choice([1, 1, 2]))
            amount = sum(price for _, _, price in lines)
            subsidy = 0
            if any(category == "appliances" for _, category, _ in lines) and rng.random() < 0.6:
                subsidy = min(amount * 15 // 100, 200_000)  # a government trade-in subsidy
            channel = rng.choice(["online", "in_store"])
            basket = Basket(
                amount=amount,
                government_subsidy=subsidy,
                lines=tuple(BasketLine(sku, category, price) for sku, category, price in lines),
                store=rng.choice(stores) if channel == "in_store" else None,
                channel=channel,
                consumer_ref=f"C-{rng.randint(1000, 1400)}",
            )
            quote = quote_create(
                merchant=merchant, test=False, currency="CNY", basket=basket, now=moment
            )
            options = quote.matching.terms
            free = [o for o in options if o.offer is not None]
            chosen = rng.choice(free) if free and rng.random() < 0.8 else rng.choice(options)
            plan = plan_commit(
                merchant=merchant,
                test=False,
                quote_id=quote.quote_id,
                term=chosen.term,
                merchant_order_ref=f"LX-{day:%Y%m%d}-{sequence:04d}",
                now=moment,
            )
            roll = rng.random()
            if roll < 0.03:
                plan_void(
                    merchant=merchant, test=False, plan_id=plan.pk, now=moment + timedelta(hours=1)
                )
            elif roll < 0.13:
                later = moment + timedelta(days=rng.randint(1, 12), hours=rng.randint(0, 5))
                share = rng.choice([plan.financed_amount, plan.financed_amount // 3])
                pending_refunds.append((later, plan, share))
        for when, plan, amount in sorted(
            (item for item in pending_refunds if item[0].date() == day and item[0] < now),
            key=lambda item: item[0],
        ):
            plan_refund(
                merchant=merchant,
                test=False,
                plan_id=plan.pk,  # type: ignore[attr-defined]
                amount=min(amount, Plan.objects.get(pk=plan.pk).financed_amount),  # type: ignore[attr-defined]
                refund_ref=f"RF-{plan.merchant_order_ref}",  # type: ignore[attr-defined]
                reason="Customer returned the goods",
                now=when,
            )
        if day < timezone.localtime(now, tz).date():
            settlement_run_for_date(business_date=day, requested_by="demo (nightly)", inline=True)
    campaigns_end_due(now=now)
