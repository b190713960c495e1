import pytest


@pytest.fixture
def merchant(db):
    from tests.factories import MerchantFactory

    return MerchantFactory()


@pytest.fixture
def api_client_for(db):
    """``api_client_for(merchant, mode="live")`` → a DRF client authenticated with a new key."""
    from rest_framework.test import APIClient

    from merchants.services import api_key_create

    def make(merchant, mode: str = "live") -> APIClient:
        issued = api_key_create(merchant=merchant, mode=mode)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        client.api_key = issued.api_key
        return client

    return make
