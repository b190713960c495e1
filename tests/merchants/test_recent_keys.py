"""Quotes may rely on this process's reads of the API key and of the pricing inputs from the last
second; nothing else may (merchants/recent_keys.py, installments/selectors.py). Revoking, freezing
and saving pricing inputs in this process take effect at once."""

import uuid
from decimal import Decimal

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from merchants.models import ApiKey, Merchant
from merchants.services import api_key_revoke, merchant_freeze

pytestmark = pytest.mark.django_db

QUOTE = {"currency": "CNY", "amount": 599_900}


@pytest.fixture
def client(merchant, api_client_for):
    return api_client_for(merchant)


def _quote(client):
    return client.post("/api/v1/quotes", QUOTE, format="json")


def _commit(client, quote_id):
    return client.post(
        "/api/v1/plans",
        {"quote_id": quote_id, "term": 3, "merchant_order_ref": f"o-{uuid.uuid4()}"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def test_revoking_through_the_service_stops_quotes_at_once(client):
    assert _quote(client).status_code == 200
    api_key_revoke(api_key=client.api_key)
    response = _quote(client)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_freezing_through_the_service_stops_quotes_at_once(client, merchant):
    assert _quote(client).status_code == 200
    merchant_freeze(merchant=merchant, reason="Chargebacks under review")
    response = _quote(client)
    assert response.status_code == 403
    assert response.json()["code"] == "merchant_frozen"


def test_a_revocation_elsewhere_reaches_quotes_within_the_window_and_commits_at_once(client):
    """Another process revoked the key (no service call here): this process may still quote with
    its recent lookup, but the commit, which moves money, asks the database and is refused."""
    quote_id = _quote(client).json()["quote_id"]
    ApiKey.objects.filter(pk=client.api_key.pk).update(revoked_at=timezone.now())
    with override_settings(API_KEY_RECENT_SECONDS=60):
        assert _quote(client).status_code == 200
        assert _commit(client, quote_id).status_code == 401
        assert client.get("/api/v1/plans").status_code == 401
    with override_settings(API_KEY_RECENT_SECONDS=0):
        assert _quote(client).status_code == 401


def test_a_freeze_elsewhere_never_lets_a_commit_through(client, merchant):
    quote_id = _quote(client).json()["quote_id"]
    Merchant.objects.filter(pk=merchant.pk).update(
        status=Merchant.Status.FROZEN, frozen_reason="Elsewhere", frozen_at=timezone.now()
    )
    with override_settings(API_KEY_RECENT_SECONDS=60):
        assert _quote(client).status_code == 200  # the recent lookup still says active
        response = _commit(client, quote_id)
    assert response.status_code == 403
    assert response.json()["code"] == "merchant_frozen"


def test_a_wrong_secret_is_refused_even_when_its_prefix_was_just_looked_up(client):
    assert _quote(client).status_code == 200
    good = client._credentials["HTTP_AUTHORIZATION"]
    client.credentials(HTTP_AUTHORIZATION=good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB"))
    assert _quote(client).status_code == 401


# The pricing inputs (platform settings, fee terms) follow the same rule for quotes.


def _consumer_fee(body, term=3):
    return next(o["consumer_fee"] for o in body["options"] if o["term"] == term)


def test_a_rate_saved_in_this_process_reaches_the_next_quote(client):
    from installments.models import FeeRate

    before = _consumer_fee(_quote(client).json())
    rate = FeeRate.objects.filter(term=3).order_by("-fee_table__effective_from").first()
    rate.consumer_rate = rate.consumer_rate + Decimal("0.01")
    rate.save()
    assert _consumer_fee(_quote(client).json()) > before


def test_a_rate_changed_elsewhere_may_be_quoted_for_a_moment_but_the_commit_reprices(client):
    from installments.models import FeeRate

    quote = _quote(client).json()
    table = FeeRate.objects.order_by("-fee_table__effective_from").first().fee_table_id
    FeeRate.objects.filter(fee_table_id=table, term=3).update(  # no signal: "another process"
        consumer_rate=F("consumer_rate") + Decimal("0.01")
    )
    with override_settings(API_KEY_RECENT_SECONDS=60):
        again = _quote(client).json()
        assert _consumer_fee(again) == _consumer_fee(quote)  # the recent read
        response = _commit(client, again["quote_id"])
    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "offer_changed"
    with override_settings(API_KEY_RECENT_SECONDS=0):
        assert _consumer_fee(_quote(client).json()) > _consumer_fee(quote)


def test_a_merchant_saved_in_this_process_reaches_the_next_quote(client, merchant):
    """The admin saves merchants with ``save()``, not through the services."""
    assert _quote(client).status_code == 200
    merchant.status = Merchant.Status.FROZEN
    merchant.frozen_reason = "Saved in the admin"
    merchant.frozen_at = timezone.now()
    merchant.save()
    assert _quote(client).status_code == 403
