import pytest
from django.contrib.auth import get_user_model

from merchants.errors import DomainError
from merchants.models import ApiKey, Membership, Merchant, Store
from merchants.selectors import api_key_authenticate
from merchants.services import (
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    merchant_create,
    merchant_freeze,
    merchant_set_paid_terms_disabled,
    merchant_unfreeze,
    store_create,
    store_update,
)
from tests.factories import MerchantFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


class TestMerchantCreate:
    def test_defaults_and_owner(self):
        merchant = merchant_create(name="Lumen", owner_email="Boss@Lumen.example")
        assert merchant.currency == "CNY"
        assert merchant.timezone == "Asia/Shanghai"
        assert merchant.status == Merchant.Status.ACTIVE
        owner = Membership.objects.get(merchant=merchant)
        assert owner.role == "owner"
        assert owner.user.email == "Boss@lumen.example"  # the domain is normalised

    def test_existing_user_becomes_owner(self):
        user = UserFactory(email="alice@example.com")
        merchant = merchant_create(name="Shop", owner_email="ALICE@example.com")
        assert Membership.objects.get(merchant=merchant).user == user
        assert get_user_model().objects.count() == 1

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"name": "X", "currency": "XXX"}, "currency"),
            ({"name": "X", "currency": "cny"}, "currency"),
            ({"name": "X", "timezone_name": "Mars/Olympus"}, "timezone"),
            ({"name": "   "}, "name"),
            ({"name": "x" * 121}, "name"),
            ({"name": "X", "owner_email": "not-an-email"}, "email"),
        ],
    )
    def test_bad_input_writes_nothing(self, kwargs, field):
        with pytest.raises(DomainError) as exc:
            merchant_create(**kwargs)
        assert exc.value.code == "validation_error"
        assert field in exc.value.errors
        assert Merchant.objects.count() == 0
        assert get_user_model().objects.count() == 0


class TestFreeze:
    def test_freeze_and_unfreeze(self):
        merchant = MerchantFactory()
        merchant_freeze(merchant=merchant, reason="chargeback fraud review")
        assert merchant.is_frozen
        assert merchant.frozen_reason == "chargeback fraud review"
        assert merchant.frozen_at is not None
        merchant_unfreeze(merchant=merchant, reason="review closed")
        assert not merchant.is_frozen
        assert merchant.frozen_at is None

    def test_freeze_needs_a_reason(self):
        merchant = MerchantFactory()
        with pytest.raises(DomainError):
            merchant_freeze(merchant=merchant, reason=" ")
        merchant.refresh_from_db()
        assert not merchant.is_frozen


def test_paid_terms_switch():
    merchant = MerchantFactory()
    assert merchant.paid_installments_enabled(12)
    merchant_set_paid_terms_disabled(merchant=merchant, terms=[12, 3, 12])
    merchant.refresh_from_db()
    assert merchant.paid_terms_disabled == [3, 12]
    assert not merchant.paid_installments_enabled(12)
    assert merchant.paid_installments_enabled(6)
    with pytest.raises(DomainError):
        merchant_set_paid_terms_disabled(merchant=merchant, terms=[1])
    with pytest.raises(DomainError):
        merchant_set_paid_terms_disabled(merchant=merchant, terms=[True])


class TestStores:
    def test_codes_unique_per_merchant_only(self):
        a, b = MerchantFactory(), MerchantFactory()
        store_create(merchant=a, code="SH-01", name="Shanghai")
        store_create(merchant=b, code="SH-01", name="Also Shanghai")
        with pytest.raises(DomainError) as exc:
            store_create(merchant=a, code="SH-01", name="Again")
        assert exc.value.errors == {"code": ["A store with code 'SH-01' already exists."]}
        assert Store.objects.filter(merchant=a).count() == 1

    @pytest.mark.parametrize("code", ["", "-lead", "has space", "x" * 33, "中文"])
    def test_bad_codes(self, code):
        with pytest.raises(DomainError):
            store_create(merchant=MerchantFactory(), code=code, name="Store")

    def test_update_and_deactivate(self):
        store = StoreFactory(code="A1")
        StoreFactory(merchant=store.merchant, code="B2")
        store_update(store=store, name="Renamed", active=False)
        store.refresh_from_db()
        assert (store.name, store.active) == ("Renamed", False)
        with pytest.raises(DomainError):
            store_update(store=store, code="B2")
        store.refresh_from_db()
        assert store.code == "A1"


class TestMembers:
    def test_last_owner_cannot_leave(self):
        merchant = MerchantFactory()
        alice, bob = UserFactory(), UserFactory()
        membership_set(merchant=merchant, user=alice, role="owner")
        membership_set(merchant=merchant, user=bob, role="viewer")
        with pytest.raises(DomainError) as exc:
            membership_remove(merchant=merchant, user=alice)
        assert exc.value.code == "invalid_transition"
        membership_set(merchant=merchant, user=bob, role="owner")
        membership_remove(merchant=merchant, user=alice)
        assert list(Membership.objects.values_list("user", "role")) == [(bob.pk, "owner")]

    def test_unknown_role(self):
        with pytest.raises(DomainError):
            membership_set(merchant=MerchantFactory(), user=UserFactory(), role="god")


class TestApiKeys:
    def test_key_is_hashed_and_authenticates(self):
        merchant = MerchantFactory()
        issued = api_key_create(merchant=merchant, mode="live")
        key = issued.api_key
        assert issued.raw_key.startswith(key.prefix + "_")
        assert key.prefix.startswith("ipk_live_")
        assert issued.raw_key not in key.secret_hash
        assert len(key.secret_hash) == 64
        found = api_key_authenticate(raw_key=issued.raw_key)
        assert found == key
        assert found.merchant == merchant
        assert found.last_used_at is not None

    def test_wrong_secret_or_revoked_key_fails(self):
        issued = api_key_create(merchant=MerchantFactory(), mode="test")
        assert api_key_authenticate(raw_key=issued.raw_key[:-1] + "x") is None
        assert api_key_authenticate(raw_key="garbage") is None
        assert api_key_authenticate(raw_key="ipk_live_nope_nope") is None
        api_key_revoke(api_key=issued.api_key)
        assert api_key_authenticate(raw_key=issued.raw_key) is None

    def test_test_and_live_keys_are_distinguishable(self):
        merchant = MerchantFactory()
        live = api_key_create(merchant=merchant, mode="live")
        test = api_key_create(merchant=merchant, mode="test")
        assert live.raw_key.startswith("ipk_live_")
        assert test.raw_key.startswith("ipk_test_")
        assert api_key_authenticate(raw_key=test.raw_key).mode == "test"

    def test_two_live_keys_for_rotation_but_not_three(self):
        merchant = MerchantFactory()
        old = api_key_create(merchant=merchant, mode="live")
        new = api_key_create(merchant=merchant, mode="live")
        assert api_key_authenticate(raw_key=old.raw_key) is not None
        assert api_key_authenticate(raw_key=new.raw_key) is not None
        with pytest.raises(DomainError):
            api_key_create(merchant=merchant, mode="live")
        api_key_revoke(api_key=old.api_key)
        api_key_create(merchant=merchant, mode="live")
        assert ApiKey.objects.filter(merchant=merchant, revoked_at__isnull=True).count() == 2

    def test_bad_mode(self):
        with pytest.raises(DomainError):
            api_key_create(merchant=MerchantFactory(), mode="prod")
