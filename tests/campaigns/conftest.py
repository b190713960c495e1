"""The campaign tests' shared fixtures."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import MembershipFactory, MerchantFactory, StoreFactory, UserFactory


@pytest.fixture
def shop(db):
    """A merchant with two stores and its owner signed in to the back office."""
    merchant = MerchantFactory(name="Studio Shop")
    StoreFactory(merchant=merchant, code="SH-1", name="Flagship")
    StoreFactory(merchant=merchant, code="BJ-1", name="Beijing")
    owner = MembershipFactory(merchant=merchant, user=UserFactory(username="studio-owner")).user
    client = Client()
    client.force_login(owner)
    return merchant, client
