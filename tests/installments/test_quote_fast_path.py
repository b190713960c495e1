"""The quote request's fast path never accepts what the serializer would refuse or change.

``quote_request_basket`` skips DRF's serializer for the common well-formed body. It may decline any
body (the serializer then decides), but whatever it accepts must be exactly what the serializer
accepts, with the same currency and basket."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installments.serializers import QuoteRequestSerializer, quote_request_basket
from merchants.api_base import MAX_AMOUNT_MINOR

# Values at and around every edge the serializer has: blank, whitespace to trim, NUL, a lone
# surrogate, lengths, bounds, booleans, floats and strings where integers belong.
_TEXT = st.one_of(
    st.sampled_from(
        ["CNY", "USD", "cny", "", " ", " CN", "CN ", "S01", "门店", "a\x00b", "\ud800"]
    ),
    st.sampled_from(["x" * 32, "x" * 33, "x" * 64, "x" * 65, "x" * 128, "x" * 129]),
    st.text(max_size=4),
)
_NUMBER = st.one_of(
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([MAX_AMOUNT_MINOR - 1, MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR + 1, 2**63]),
    st.booleans(),
    st.sampled_from([1.0, 0.5, 1e3]),
    st.just("100"),
)
_ODD = st.one_of(st.none(), _TEXT, _NUMBER, st.just([]), st.just({}), st.just([{}]))
_VALID_LINE = st.fixed_dictionaries(
    {
        "sku": st.sampled_from(["P70", "CASE", "壳"]),
        "category": st.sampled_from(["phones", "", "配件"]),
        "amount": st.integers(min_value=0, max_value=500_000),
    }
)
_LINE_KEY = st.sampled_from(["sku", "category", "amount", "extra"])
_FIELD = st.sampled_from(
    ["currency", "amount", "government_subsidy", "store", "channel", "lines", "consumer_ref", "tip"]
)


@st.composite
def _bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed body, then up to three of its fields (or one line's) set to an odd value or
    dropped: mostly near-valid bodies, where a lax fast path would show."""
    lines = draw(st.one_of(st.none(), st.lists(_VALID_LINE, min_size=1, max_size=3)))
    body: dict[str, Any] = {"currency": "CNY"}
    if lines is not None and draw(st.booleans()):
        body["lines"] = lines
    amount = sum(line["amount"] for line in lines or []) or draw(
        st.integers(min_value=1, max_value=10**7)
    )
    body["amount"] = amount
    optional = {
        "government_subsidy": st.integers(min_value=0, max_value=amount),
        "store": st.one_of(st.none(), st.sampled_from(["S01", "门店1"])),
        "channel": st.one_of(st.none(), st.sampled_from(["online", "in_store"])),
        "consumer_ref": st.one_of(st.none(), st.just("c-1")),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            body[name] = draw(values)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        lines = body.get("lines")
        if (
            isinstance(lines, list)
            and lines
            and isinstance(lines[-1], dict)
            and draw(st.booleans())
        ):
            line = dict(lines[-1])
            key = draw(_LINE_KEY)
            if draw(st.booleans()):
                line.pop(key, None)
            else:
                line[key] = draw(_ODD)
            body["lines"] = [*body["lines"][:-1], line]
        else:
            name = draw(_FIELD)
            if draw(st.booleans()):
                body.pop(name, None)
            else:
                body[name] = draw(_ODD)
    return body


def _serializer_answer(body: Any) -> tuple[str, Any] | None:
    serializer = QuoteRequestSerializer(data=body)
    if not serializer.is_valid():
        return None
    return serializer.validated_data["currency"], serializer.to_basket()


@settings(max_examples=1_000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_bodies())
def test_fast_path_accepts_only_what_the_serializer_accepts_unchanged(body: dict[str, Any]) -> None:
    fast = quote_request_basket(body)
    if fast is not None:
        assert _serializer_answer(body) == fast


def test_fast_path_takes_the_common_checkout_bodies() -> None:
    bodies = [
        {"currency": "CNY", "amount": 599_900},
        {"currency": "CNY", "amount": 599_900, "government_subsidy": 50_000, "channel": "in_store"},
        {
            "currency": "CNY",
            "amount": 699_900,
            "store": "SH01",
            "consumer_ref": "c-1",
            "lines": [
                {"sku": "P70", "category": "phones", "amount": 599_900},
                {"sku": "壳", "category": "", "amount": 100_000},
            ],
        },
        {"currency": "CNY", "amount": 1, "lines": None, "store": None, "channel": None},
    ]
    for body in bodies:
        fast = quote_request_basket(body)
        assert fast is not None, body
        assert fast == _serializer_answer(body)


def test_fast_path_declines_what_the_serializer_must_word() -> None:
    declined = [
        [],
        {"currency": "CNY", "amount": "100"},
        {"currency": "CNY", "amount": 100, "government_subsidy": 100},
        {"currency": " CNY", "amount": 100},
        {"currency": "CNY", "amount": 100, "lines": []},
        {"currency": "CNY", "amount": 100, "lines": [{"sku": "A", "category": "", "amount": 99}]},
        {"currency": "CNY", "amount": 100, "tip": 1},
        {"currency": "CNY", "amount": MAX_AMOUNT_MINOR + 1},
        {"currency": "CNY", "amount": 100, "consumer_ref": ""},
        {"currency": "CNY", "amount": 100, "consumer_ref": "x" * 129},
        {"currency": "CNY", "amount": 100, "store": "x" * 33},
        {"currency": "CNY", "amount": 100, "store": "S\ud800"},
        {"currency": "CNY", "amount": 100, "channel": "ONLINE"},
        {"currency": "CNY", "amount": 0},
        {
            "currency": "CNY",
            "amount": 100,
            "lines": [{"sku": "x" * 65, "category": "", "amount": 100}],
        },
        {
            "currency": "CNY",
            "amount": 100,
            "lines": [{"sku": "A", "category": "x" * 65, "amount": 100}],
        },
        {
            "currency": "CNY",
            "amount": 100,
            "lines": [{"sku": "\ud800", "category": "", "amount": 100}],
        },
        {"currency": "CNY", "amount": 100, "lines": [{"sku": "A", "amount": 100}]},
        {"currency": "CNY", "amount": 100, "lines": [{"sku": "A", "category": "", "amount": -1}]},
        {
            "currency": "CNY",
            "amount": 100,
            "lines": [{"sku": "A", "category": "", "amount": 100.0}],
        },
    ]
    for body in declined:
        assert quote_request_basket(body) is None, body


@pytest.mark.parametrize("compress", [False, True])
def test_quote_token_is_exactly_djangos_signed_value(compress, monkeypatch, settings):
    """quote_token is Django's signing.dumps with the key derived once: same bytes, same time."""
    import time

    from django.core import signing

    from installments.quotes import _SALT, quote_token

    monkeypatch.setattr(time, "time", lambda: 1_764_467_000.25)
    payload = {"v": 1, "m": "m-1", "l": [["P70", "phones", 500_000]] * 20, "o": {"3": [None, 1, 2]}}
    for secret in ("first-secret-" + "x" * 40, "second-secret-" + "y" * 40):
        settings.SECRET_KEY = secret
        token = quote_token(payload, compress=compress)
        assert token == signing.dumps(payload, salt=_SALT, compress=compress)
        assert signing.loads(token, salt=_SALT) == payload


_TOKEN_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sku=_TOKEN_TEXT,
    category=_TOKEN_TEXT,
    consumer_ref=st.one_of(st.none(), _TOKEN_TEXT, st.sampled_from(["a\x00b", "\x1f\x7f", '"\\'])),
    amount=st.one_of(st.integers(min_value=0, max_value=10**15), st.just(2**70)),
)
def test_quote_token_is_djangos_for_any_text(sku, category, consumer_ref, amount):
    """Any SKU, category or consumer reference (ASCII or not, control characters, quotes): orjson's
    ASCII output or, failing that, the signer's own encoding, signed as the signer signs."""
    from unittest import mock

    from django.core import signing

    from installments.quotes import _SALT, quote_token

    payload = {"v": 1, "r": consumer_ref, "l": [[sku, category, amount]], "o": {"3": [None, 0, 1]}}
    with mock.patch("time.time", return_value=1_764_467_000.25):
        token = quote_token(payload)
        assert token == signing.dumps(payload, salt=_SALT)
    assert signing.loads(token, salt=_SALT) == payload
