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


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis for tests that need a real broker. Fails loudly (never skips) when none answers."""
    import os

    import redis

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"No Redis answers at {url} ({exc}). Start one with "
            "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no` "
            "or set REDIS_URL.",
            pytrace=False,
        )
    return url
