"""factory_boy factories. They build rows directly for speed; tests of behaviour call services."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from merchants.models import Membership, Merchant, Store


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    currency = "CNY"
    timezone = "Asia/Shanghai"


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    code = factory.Sequence(lambda n: f"S{n:04d}")
    name = factory.Sequence(lambda n: f"Store {n}")
    city = "Shanghai"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft, all-products campaign with one fully-free 12-term offer, starting tomorrow."""

    class Meta:
        model = "campaigns.Campaign"
        skip_postgeneration_save = True

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda c: c.starts_at + timedelta(days=10))
    budget_total = 5_000_000
    offers = factory.RelatedFactory(
        "tests.factories.OfferFactory", factory_related_name="campaign", term=12
    )


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "campaigns.Offer"

    campaign = factory.SubFactory(CampaignFactory, offers=None)
    merchant = factory.LazyAttribute(lambda o: o.campaign.merchant)
    term = 12
    merchant_share_bp = 10000
    min_amount = 0
