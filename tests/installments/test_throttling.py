"""Per-key rate limits (DESIGN.md §6): 429 ``throttled`` with Retry-After, per key, ahead of every
other problem but authentication."""

import pytest
from django.core.cache import cache

from merchants.api_base import ApiKeyRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_per_minute(monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    cache.clear()
    yield
    cache.clear()


def test_a_key_over_its_rate_is_throttled_and_another_key_is_not(
    three_per_minute, merchant, api_client_for
):
    first, second = api_client_for(merchant), api_client_for(merchant)
    for _ in range(3):
        assert first.get("/api/v1/plans").status_code == 200
    throttled = first.get("/api/v1/plans")
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert second.get("/api/v1/plans").status_code == 200


def test_throttling_wins_over_a_missing_idempotency_key_and_bad_input(
    three_per_minute, merchant, api_client_for
):
    client = api_client_for(merchant)
    for _ in range(3):
        client.get("/api/v1/stores")
    response = client.post("/api/v1/plans", {"term": "twelve"}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "throttled"


def test_authentication_wins_over_throttling(three_per_minute, client):
    response = client.post("/api/v1/quotes", {}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
