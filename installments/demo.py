"""Demo data for ``make run``: realistic, idempotent, and built through the same services as
everything else (DESIGN.md §9). Later parts of the product add their own demo records here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
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
