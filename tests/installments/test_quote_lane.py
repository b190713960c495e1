"""The quote's lane past DRF's dispatch (installments/apis.py, ``QuoteView``) answers exactly as
DRF's dispatch does.

Every request below is sent twice: as it comes (the lane takes it, or declines and hands it to
DRF), then with the lane switched off, so DRF's dispatch alone answers. Status, problem code,
body and the headers DRF sets must be the same; for a quote, everything but its id and expiry,
which are drawn afresh. Each case also says whether the lane should have taken it, and the test
checks that it did (a lane that declined everything would pass the comparison trivially)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.views import APIView

from installments.apis import QuoteView
from merchants.api_base import ApiKeyRateThrottle, json_response_bytes
from merchants.services import api_key_create, merchant_freeze
from tests.factories import CampaignFactory, OfferFactory, StoreFactory

pytestmark = pytest.mark.django_db

BASKET = {
    "currency": "CNY",
    "amount": 699_900,
    "lines": [
        {"sku": "P70", "category": "phones", "amount": 500_000},
        {"sku": "CASE", "category": "accessories", "amount": 199_900},
    ],
    "channel": "online",
    "consumer_ref": "c-1",
}
_COMPARED_HEADERS = ("Content-Type", "Allow", "Vary", "Retry-After", "WWW-Authenticate")


@dataclass
class Case:
    name: str
    lane: bool  # whether the lane should take it
    status: int
    body: bytes | None = None  # default: BASKET as JSON
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/api/v1/quotes"
    key: str = "live"  # "live", "test", "none", "unknown", or a raw Authorization header


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


CASES = [
    Case("the common basket", lane=True, status=200),
    Case("accepting JSON", lane=True, status=200, headers={"HTTP_ACCEPT": "application/json"}),
    Case("accepting anything", lane=True, status=200, headers={"HTTP_ACCEPT": "*/*"}),
    Case("no lines", lane=True, status=200, body=_json({"currency": "CNY", "amount": 599_900})),
    Case("a test-mode key", lane=True, status=200, key="test"),
    Case("another currency", lane=True, status=400, body=_json({**BASKET, "currency": "JPY"})),
    Case("an unknown store", lane=True, status=400, body=_json({**BASKET, "store": "NOPE"})),
    Case("a known store", lane=True, status=200, body=_json({**BASKET, "store": "S-LANE"})),
    Case(
        "below every minimum",
        lane=True,
        status=422,
        body=_json({"currency": "CNY", "amount": 1}),
    ),
    Case(
        "above every maximum",
        lane=True,
        status=422,
        body=_json({"currency": "CNY", "amount": 10**14}),
    ),
    Case("an HTML client", lane=False, status=406, headers={"HTTP_ACCEPT": "text/html"}),
    Case(
        "JSON with parameters",
        lane=False,
        status=200,
        headers={"HTTP_ACCEPT": "application/json; indent=4"},
    ),
    Case("a format override", lane=False, status=200, path="/api/v1/quotes?format=json"),
    Case(
        "a charset",
        lane=False,
        status=200,
        content_type="application/json; charset=utf-8",
    ),
    Case("plain text", lane=False, status=415, content_type="text/plain"),
    Case("broken JSON", lane=False, status=400, body=b'{"currency": "CNY", "amount": '),
    Case("NaN", lane=False, status=400, body=b'{"currency": "CNY", "amount": NaN}'),
    Case("not UTF-8", lane=False, status=400, body=b'{"currency": "\xff"}'),
    Case("a list", lane=False, status=400, body=b"[]"),
    Case("an unknown field", lane=False, status=400, body=_json({**BASKET, "tip": 1})),
    Case("a string amount", lane=False, status=400, body=_json({**BASKET, "amount": "699900"})),
    Case(
        "a lone surrogate",
        lane=False,
        status=400,
        body=b'{"currency": "CNY", "amount": 100, "consumer_ref": "\\ud800"}',
    ),
    Case("nested too deeply", lane=False, status=400, body=b"[" * 100_000 + b"]" * 100_000),
    Case(
        "over the lane's size",
        lane=False,
        status=200,
        body=_json(BASKET)[:-1] + b" " * 300_000 + b"}",
    ),
    Case("no key", lane=False, status=401, key="none"),
    Case("an unknown key", lane=False, status=401, key="unknown"),
    Case("a bare scheme", lane=False, status=401, key="Bearer"),
    Case("another scheme", lane=False, status=401, key="Token abc"),
    Case("three words", lane=False, status=401, key="Bearer a b"),
]


@pytest.fixture
def shop(merchant):
    now = timezone.now()
    # U+2028 in the name: DRF's renderer escapes it, and so must the lane's.
    campaign = CampaignFactory(
        merchant=merchant,
        name="Spring\u2028sale «免息»",
        status="approved",
        starts_at=now - timedelta(days=1),
        offers=None,
    )
    OfferFactory(campaign=campaign, term=6, merchant_share_bp=3000)
    OfferFactory(campaign=campaign, term=12, merchant_share_bp=10000)
    StoreFactory(merchant=merchant, code="S-LANE")
    return merchant


def _authorization(case: Case, merchant) -> dict[str, str]:
    if case.key == "none":
        return {}
    if case.key in ("live", "test"):
        return {
            "HTTP_AUTHORIZATION": f"Bearer {api_key_create(merchant=merchant, mode=case.key).raw_key}"
        }
    if case.key == "unknown":
        return {"HTTP_AUTHORIZATION": "Bearer ipk_live_0000000000_" + "x" * 43}
    return {"HTTP_AUTHORIZATION": case.key}


def _send(case: Case, merchant, monkeypatch, *, lane: bool) -> tuple[object, bool]:
    """The response, and whether DRF's dispatch ran (``initial`` is its first step)."""
    calls = []
    original = APIView.initial

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(APIView, "initial", counted)
        if not lane:
            patch.setattr(QuoteView, "_lane_applies", lambda self: False)
        response = Client().post(
            case.path,
            json.dumps(BASKET).encode() if case.body is None else case.body,
            content_type=case.content_type,
            **case.headers,
            **_authorization(case, merchant),
        )
    return response, bool(calls)


def _comparable(response) -> tuple:
    headers = {name: response.headers.get(name) for name in _COMPARED_HEADERS}
    body = response.content
    if response.status_code == 200:
        data = json.loads(body)
        data.pop("quote_id"), data.pop("expires_at")
        body = json.dumps(data, sort_keys=True).encode()
    return response.status_code, headers, body


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_the_lane_answers_as_drf_does(case, shop, monkeypatch):
    taken, drf_ran = _send(case, shop, monkeypatch, lane=True)
    assert taken.status_code == case.status, taken.content[:300]
    assert drf_ran is not case.lane, "the lane took a request it should decline, or declined one"
    alone, _ = _send(case, shop, monkeypatch, lane=False)
    assert _comparable(taken) == _comparable(alone)


def test_the_quote_body_is_the_bytes_drf_renders(shop, monkeypatch):
    """Not only the same JSON: the same bytes, U+2028 escaped in the campaign's name."""
    case = CASES[0]
    taken, _ = _send(case, shop, monkeypatch, lane=True)
    assert b"Spring\\u2028sale" in taken.content
    assert "«免息»".encode() in taken.content  # UTF-8, not \\u escapes
    from rest_framework.renderers import JSONRenderer

    assert taken.content == JSONRenderer().render(json.loads(taken.content))


def test_a_frozen_merchant_is_refused_in_the_lane_as_by_drf(shop, monkeypatch):
    case = Case("frozen", lane=True, status=403)
    merchant_freeze(merchant=shop, reason="Chargebacks under review")
    taken, drf_ran = _send(case, shop, monkeypatch, lane=True)
    alone, _ = _send(case, shop, monkeypatch, lane=False)
    assert not drf_ran
    assert taken.json()["code"] == "merchant_frozen"
    assert _comparable(taken) == _comparable(alone)


def test_the_lane_counts_against_the_rate_limit_and_refuses_as_drf_does(shop, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    answers = []
    for lane in (True, False):
        key = _authorization(Case("a new key", lane=lane, status=200), shop)["HTTP_AUTHORIZATION"]
        case = Case("throttled", lane=lane, status=429, key=key)
        statuses = [_send(case, shop, monkeypatch, lane=lane)[0].status_code for _ in range(2)]
        assert statuses == [200, 200]
        answers.append(_send(case, shop, monkeypatch, lane=lane))
    (taken, drf_ran), (alone, _) = answers
    assert not drf_ran
    assert taken.status_code == alone.status_code == 429
    assert taken.json()["code"] == alone.json()["code"] == "throttled"
    assert taken.headers["Content-Type"] == alone.headers["Content-Type"]
    assert taken.headers["Retry-After"] and alone.headers["Retry-After"]


def test_json_response_bytes_falls_back_to_the_renderer_beyond_64_bits():
    from rest_framework.renderers import JSONRenderer

    data = {"big": 2**70, "name": "a\u2029b"}
    assert json_response_bytes(data) == JSONRenderer().render(data)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=2_000, deadline=None)
@given(data=_JSON)
def test_json_response_bytes_are_the_renderers_bytes(data):
    """Any JSON of the types a response holds (no floats: amounts are integers), with any text:
    control characters, quotes, U+2028 and U+2029, characters beyond the BMP."""
    from rest_framework.renderers import JSONRenderer

    assert json_response_bytes(data) == JSONRenderer().render(data)


def test_an_outage_during_the_key_lookup_is_answered_as_drf_answers_it(shop, monkeypatch):
    """The lane's key lookup fails (PostgreSQL went away): DRF's dispatch answers, 503 problem."""
    from django.db import OperationalError

    import merchants.selectors

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    case = Case("outage", lane=False, status=503)
    key = _authorization(Case("a key", lane=True, status=200), shop)["HTTP_AUTHORIZATION"]
    case.key = key
    answers = []
    for lane in (True, False):
        monkeypatch.setattr(merchants.selectors, "recent_key", lambda prefix: None)
        monkeypatch.setattr(merchants.selectors, "fetch_prepared", down)
        answers.append(_send(case, shop, monkeypatch, lane=lane)[0])
        monkeypatch.undo()
    taken, alone = answers
    assert taken.status_code == 503 and taken.json()["code"] == "service_unavailable"
    assert _comparable(taken) == _comparable(alone)


@pytest.mark.parametrize("path", ["/api/v1/quotes", "/api/v1/plans"])
def test_a_key_with_a_nul_is_refused_not_an_error(path, shop):
    response = Client().post(
        path,
        json.dumps(BASKET).encode(),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer ipk_live_abc\x00def_" + "x" * 43,
    )
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
