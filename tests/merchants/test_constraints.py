"""The database itself refuses what must never hold, whatever code path writes."""

import pytest
from django.db import IntegrityError, transaction

from merchants.models import ApiKey, Membership, Merchant, Store
from tests.factories import MerchantFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


def _refused(**create):
    model, fields = create.pop("model"), create
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**fields)


def test_merchant_constraints():
    _refused(model=Merchant, name="x", status="deleted")
    _refused(model=Merchant, name="x", currency="cn")
    _refused(model=Merchant, name="x", status="frozen", frozen_at=None)


def test_store_code_unique_per_merchant_and_well_formed():
    store = StoreFactory(code="A1")
    _refused(model=Store, merchant=store.merchant, code="A1", name="dup")
    _refused(model=Store, merchant=store.merchant, code=" A2", name="bad")
    Store.objects.create(merchant=MerchantFactory(), code="A1", name="other merchant")


def test_membership_unique_and_role_valid():
    merchant, user = MerchantFactory(), UserFactory()
    Membership.objects.create(merchant=merchant, user=user, role="owner")
    _refused(model=Membership, merchant=merchant, user=user, role="viewer")
    _refused(model=Membership, merchant=MerchantFactory(), user=user, role="admin")


def test_api_key_hash_and_mode():
    merchant = MerchantFactory()
    _refused(model=ApiKey, merchant=merchant, mode="live", prefix="p1", secret_hash="plaintext")
    _refused(model=ApiKey, merchant=merchant, mode="prod", prefix="p2", secret_hash="a" * 64)
