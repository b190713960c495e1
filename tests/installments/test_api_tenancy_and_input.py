"""The checkout API's tenancy and input handling (DESIGN.md §6, §8).

- One merchant's key never reads or changes another merchant's campaigns, stores, plans, refunds or
  quotes: every id of theirs is a problem+json 404 and their rows stay exactly as they were; a
  test-mode key and a live key of the same merchant never see each other's plans.
- Bad input on quotes, plans and refunds is a 4xx problem+json with the right stable code and
  changes nothing (no plans, refunds, ledger entries, budget use or stored idempotency outcomes).
- Idempotency: replays are byte-identical, a reused key with another body is refused, keys are
  scoped per merchant, mode and path, and the precedence of §6 holds.
- A frozen merchant cannot quote or commit, but voids, refunds and reads keep working."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, CampaignDailyUsage, CampaignEvent, Offer
from installments.ledger_models import LedgerEntry, LedgerPosting
from installments.plan_models import IdempotencyRecord, Plan, PlanInstallment, PlanLine, Refund
from installments.serializers import PlanCreateSerializer
from installments.settlement import settlement_run_for_date, settlement_today
from installments.settlement_models import Statement
from merchants.models import Merchant, Store
from merchants.services import merchant_freeze, merchant_unfreeze
from tests.campaigns.test_api import BODY as CAMPAIGN_BODY
from tests.factories import CampaignFactory, MerchantFactory, StoreFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
AMOUNT = 600_000  # ¥6,000.00: every default term (3/6/12) is offered
LINES = [
    {"sku": "PHONE-1", "category": "phones", "amount": 500_000},
    {"sku": "CASE-1", "category": "accessories", "amount": 100_000},
]


# -- helpers ------------------------------------------------------------------------------------


def assert_problem(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == PROBLEM, response["Content-Type"]
    body = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert {"type", "title", "detail"} <= set(body), body
    return body


def assert_field_error(response, field_name: str) -> dict[str, Any]:
    body = assert_problem(response, 400, "validation_error")
    assert field_name in body.get("errors", {}), body
    return body


def live_campaign(merchant: Merchant, **kwargs: Any) -> Campaign:
    now = timezone.now()
    return CampaignFactory(
        merchant=merchant,
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        **kwargs,
    )


def new_key() -> str:
    return f"idem-{uuid.uuid4()}"


def post(client, path: str, body: Any = None, *, key: str | None = None):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, body if body is not None else {}, format="json", **extra)


def post_raw(client, path: str, raw: bytes | str, *, key: str | None = None):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(path, raw, content_type="application/json", **extra)


def quote(client, **changes: Any) -> dict[str, Any]:
    response = post(client, "/api/v1/quotes", {"currency": "CNY", "amount": AMOUNT} | changes)
    assert response.status_code == 200, response.content
    return response.json()


def plan_body(quote_id: str, *, term: int = 12, ref: str | None = None) -> dict[str, Any]:
    return {
        "quote_id": quote_id,
        "term": term,
        "merchant_order_ref": ref or f"ORD-{uuid.uuid4().hex[:12]}",
    }


def commit(client, *, term: int = 12, ref: str | None = None, **quote_changes: Any) -> dict:
    body = plan_body(quote(client, **quote_changes)["quote_id"], term=term, ref=ref)
    response = post(client, "/api/v1/plans", body, key=new_key())
    assert response.status_code == 201, response.content
    return response.json()


def refund(client, plan_id: str, amount: int, **extra: Any) -> dict:
    body = {"amount": amount, "refund_ref": f"R-{uuid.uuid4().hex[:12]}"} | extra
    response = post(client, f"/api/v1/plans/{plan_id}/refunds", body, key=new_key())
    assert response.status_code == 201, response.content
    return response.json()


_OWNED = (
    Statement,
    Store,
    Campaign,
    Offer,
    CampaignEvent,
    CampaignDailyUsage,
    Plan,
    PlanInstallment,
    PlanLine,
    Refund,
    LedgerEntry,
    LedgerPosting,
    IdempotencyRecord,
)


def snapshot(merchant: Merchant) -> dict[str, list[dict[str, Any]]]:
    """Every row the merchant owns that the API can reach or money moves through."""
    state = {"merchant": list(Merchant.objects.filter(pk=merchant.pk).values())}
    for model in _OWNED:
        rows = model.objects.filter(merchant=merchant).order_by("pk").values()
        state[model._meta.label] = [
            {k: bytes(v) if isinstance(v, memoryview) else v for k, v in row.items()}
            for row in rows
        ]
    return state


def money_totals() -> dict[str, Any]:
    """What a refused request must leave untouched, platform-wide."""
    return {
        "plans": Plan.objects.count(),
        "installments": PlanInstallment.objects.count(),
        "plan_lines": PlanLine.objects.count(),
        "refunds": Refund.objects.count(),
        "ledger_entries": LedgerEntry.objects.count(),
        "ledger_postings": LedgerPosting.objects.count(),
        "budget_used": Campaign.objects.aggregate(s=Sum("budget_used"))["s"],
        "daily_used": CampaignDailyUsage.objects.aggregate(s=Sum("used"))["s"],
        "plan_state": sorted(
            Plan.objects.values_list(
                "id", "status", "financed_amount", "refunded_amount", "merchant_subsidy"
            )
        ),
        "idempotency_records": IdempotencyRecord.objects.count(),
    }


# -- tenancy ------------------------------------------------------------------------------------


@dataclass
class Tenant:
    merchant: Merchant
    client: Any
    store: Store
    campaigns: dict[str, Campaign]
    plan: dict[str, Any]
    refund: dict[str, Any]
    quote_id: str
    ids: dict[str, str] = field(default_factory=dict)


def _tenant(api_client_for) -> Tenant:
    merchant = MerchantFactory()
    client = api_client_for(merchant)
    store = StoreFactory(merchant=merchant)
    campaigns = {
        "live": live_campaign(merchant),
        "draft": CampaignFactory(merchant=merchant),
        "paused": CampaignFactory(merchant=merchant, status="paused"),
        "rejected": CampaignFactory(merchant=merchant, status="rejected"),
    }
    plan = commit(client, lines=LINES, store=store.code)
    assert plan["campaign"]["id"] == str(campaigns["live"].pk)
    assert plan["merchant_subsidy"] > 0  # so its plan moved money: ledger rows and budget use
    made = refund(client, plan["id"], 100_000)
    settlement_run_for_date(business_date=settlement_today(), merchant_id=merchant.pk, inline=True)
    statement = Statement.objects.get(merchant=merchant)
    # A settled charge can no longer be voided (§3.5): the void row uses a plan made after the run.
    unsettled = commit(client)
    tenant = Tenant(
        merchant=merchant,
        client=client,
        store=store,
        campaigns=campaigns,
        plan=plan,
        refund=made,
        quote_id=quote(client)["quote_id"],
    )
    tenant.ids = {name: str(c.pk) for name, c in campaigns.items()} | {
        "store": str(store.pk),
        "plan": plan["id"],
        "unsettled_plan": unsettled["id"],
        "statement": str(statement.pk),
    }
    return tenant


@pytest.fixture
def a(api_client_for) -> Tenant:
    return _tenant(api_client_for)


@pytest.fixture
def b(api_client_for) -> Tenant:
    return _tenant(api_client_for)


# (method, path, body): each would succeed for the owner (the control below proves it).
CROSS_TENANT = [
    ("get", "/api/v1/campaigns/{draft}", None),
    ("put", "/api/v1/campaigns/{draft}", CAMPAIGN_BODY),
    ("patch", "/api/v1/campaigns/{draft}", {"name": "Taken over", "budget": {"total": 1}}),
    ("patch", "/api/v1/campaigns/{live}", {"budget": {"total": 6_000_000}}),
    ("post", "/api/v1/campaigns/{draft}/submit", {}),
    ("post", "/api/v1/campaigns/{live}/pause", {}),
    ("post", "/api/v1/campaigns/{paused}/resume", {}),
    ("post", "/api/v1/campaigns/{live}/end", {}),
    ("post", "/api/v1/campaigns/{draft}/cancel", {}),
    ("post", "/api/v1/campaigns/{live}/duplicate", {}),
    ("post", "/api/v1/campaigns/{rejected}/reopen", {}),
    ("get", "/api/v1/stores/{store}", None),
    ("patch", "/api/v1/stores/{store}", {"name": "Taken over", "active": False}),
    ("put", "/api/v1/stores/{store}", {"code": "HIJACK", "name": "Taken over", "active": False}),
    ("get", "/api/v1/plans/{plan}", None),
    ("post", "/api/v1/plans/{unsettled_plan}/void", {}),
    ("get", "/api/v1/plans/{plan}/refunds", None),
    ("post", "/api/v1/plans/{plan}/refunds", {"amount": 100_000, "refund_ref": "R-HIJACK"}),
    ("get", "/api/v1/settlements/{statement}", None),
    ("get", "/api/v1/settlements/{statement}?format=csv", None),
]


def _call(client, method: str, path: str, body: Any, key: str):
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize(
    ("method", "template", "body"),
    CROSS_TENANT,
    ids=[f"{m.upper()} {t.removeprefix('/api/v1/')}" for m, t, _ in CROSS_TENANT],
)
def test_another_merchants_ids_are_404_and_change_nothing(a, b, method, template, body):
    path = template.format(**b.ids)
    before = snapshot(b.merchant)

    assert_problem(_call(a.client, method, path, body, new_key()), 404, "not_found")

    assert snapshot(b.merchant) == before
    # Control: the same request from the owner is not a 404, so the 404 above was tenancy.
    own = _call(b.client, method, path, body, new_key())
    assert own.status_code in (200, 201), own.content


def test_lists_never_show_another_merchants_data(a, b):
    def ids(path: str) -> set[str]:
        response = a.client.get(path)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids("/api/v1/campaigns?page_size=200") == {a.ids[n] for n in a.campaigns}
    assert ids("/api/v1/stores") == {a.ids["store"]}
    assert ids("/api/v1/plans") == {a.plan["id"], a.ids["unsettled_plan"]}
    assert ids(f"/api/v1/plans/{a.plan['id']}/refunds") == {a.refund["id"]}
    assert ids("/api/v1/settlements") == {a.ids["statement"]}
    # Filtering by the other merchant's campaign or order ref finds nothing either.
    assert ids(f"/api/v1/plans?campaign={b.ids['live']}") == set()
    assert ids(f"/api/v1/plans?merchant_order_ref={b.plan['merchant_order_ref']}") == set()
    # and the other merchant sees only its own
    response = b.client.get("/api/v1/plans")
    assert {p["id"] for p in response.json()["results"]} == {b.plan["id"], b.ids["unsettled_plan"]}


def test_another_merchants_quote_is_404_and_commits_nothing(a, b):
    before = money_totals()
    response = post(a.client, "/api/v1/plans", plan_body(b.quote_id), key=new_key())
    assert_problem(response, 404, "not_found")
    after = money_totals()
    assert {k: v for k, v in after.items() if k != "idempotency_records"} == {
        k: v for k, v in before.items() if k != "idempotency_records"
    }
    # Control: the quote is good for the merchant it was issued to.
    assert post(b.client, "/api/v1/plans", plan_body(b.quote_id), key=new_key()).status_code == 201


def test_another_merchants_store_code_cannot_be_quoted(a, b):
    response = post(
        a.client, "/api/v1/quotes", {"currency": "CNY", "amount": AMOUNT, "store": b.store.code}
    )
    assert_field_error(response, "store")


def test_a_key_sees_only_plans_of_its_own_mode(api_client_for):
    merchant = MerchantFactory()
    campaign = live_campaign(merchant)
    live, test = api_client_for(merchant, "live"), api_client_for(merchant, "test")
    live_plan, test_plan = commit(live), commit(test)
    assert (live_plan["test"], test_plan["test"]) == (False, True)
    campaign.refresh_from_db()
    assert campaign.budget_used == live_plan["merchant_subsidy"]  # the test plan reserved nothing
    before = money_totals()

    for client, mine, other in ((live, live_plan, test_plan), (test, test_plan, live_plan)):
        other_path = f"/api/v1/plans/{other['id']}"
        assert_problem(client.get(other_path), 404, "not_found")
        assert_problem(client.get(f"{other_path}/refunds"), 404, "not_found")
        assert_problem(post(client, f"{other_path}/void", key=new_key()), 404, "not_found")
        assert_problem(
            post(client, f"{other_path}/refunds", {"amount": 1, "refund_ref": "X"}, key=new_key()),
            404,
            "not_found",
        )
        listed = client.get("/api/v1/plans").json()["results"]
        assert [p["id"] for p in listed] == [mine["id"]]
        assert client.get(f"/api/v1/plans/{mine['id']}").status_code == 200

    after = money_totals()
    assert after["plan_state"] == before["plan_state"]
    assert after["ledger_entries"] == before["ledger_entries"]
    assert after["refunds"] == before["refunds"] == 0

    # Test plans never settle, and a test key sees no statement.
    settlement_run_for_date(business_date=settlement_today(), merchant_id=merchant.pk, inline=True)
    statement = Statement.objects.get(merchant=merchant)
    assert statement.charges == live_plan["merchant_subsidy"]
    assert [s["id"] for s in live.get("/api/v1/settlements").json()["results"]] == [
        str(statement.pk)
    ]
    assert test.get("/api/v1/settlements").json()["results"] == []
    assert_problem(test.get(f"/api/v1/settlements/{statement.pk}"), 404, "not_found")


@pytest.mark.parametrize(("issuer", "user"), [("test", "live"), ("live", "test")])
def test_a_quote_of_one_mode_is_404_in_the_other(api_client_for, issuer, user):
    merchant = MerchantFactory()
    issued = quote(api_client_for(merchant, issuer))
    response = post(
        api_client_for(merchant, user),
        "/api/v1/plans",
        plan_body(issued["quote_id"]),
        key=new_key(),
    )
    assert_problem(response, 404, "not_found")
    assert Plan.objects.count() == 0


# -- bad input: quotes --------------------------------------------------------------------------

_MISSING = object()


def _quote_body(**changes: Any) -> bytes:
    body: dict[str, Any] = {"currency": "CNY", "amount": AMOUNT}
    for key, value in changes.items():
        if value is _MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body).encode()


def _raw(text: str) -> bytes:
    return text.encode()


def _line(**changes: Any) -> dict[str, Any]:
    return {"sku": "PHONE-1", "category": "phones", "amount": AMOUNT} | changes


# (id, raw body, the field named in errors)
QUOTE_BAD_INPUT = [
    ("amount-string", _quote_body(amount="600000"), "amount"),
    ("amount-float", _quote_body(amount=600000.0), "amount"),
    ("amount-one-point-zero", _raw('{"currency": "CNY", "amount": 1.0}'), "amount"),
    ("amount-exponent", _raw('{"currency": "CNY", "amount": 1e3}'), "amount"),
    ("amount-big-exponent", _raw('{"currency": "CNY", "amount": 6E5}'), "amount"),
    ("amount-nan", _raw('{"currency": "CNY", "amount": NaN}'), "request"),
    ("amount-infinity", _raw('{"currency": "CNY", "amount": Infinity}'), "request"),
    ("amount-true", _quote_body(amount=True), "amount"),
    ("amount-false", _quote_body(amount=False), "amount"),
    ("amount-null", _quote_body(amount=None), "amount"),
    ("amount-list", _quote_body(amount=[AMOUNT]), "amount"),
    ("amount-negative", _quote_body(amount=-AMOUNT), "amount"),
    ("amount-zero", _quote_body(amount=0), "amount"),
    ("amount-huge", _quote_body(amount=10**15 + 1), "amount"),
    ("amount-beyond-bigint", _quote_body(amount=10**30), "amount"),
    ("amount-missing", _quote_body(amount=_MISSING), "amount"),
    ("currency-missing", _quote_body(currency=_MISSING), "currency"),
    ("currency-not-the-merchants", _quote_body(currency="USD"), "currency"),
    ("currency-unknown", _quote_body(currency="XYZ"), "currency"),
    ("currency-lowercase", _quote_body(currency="cny"), "currency"),
    ("currency-number", _quote_body(currency=156), "currency"),
    ("currency-nul", _quote_body(currency="CN\x00"), "currency"),
    ("subsidy-string", _quote_body(government_subsidy="0"), "government_subsidy"),
    ("subsidy-float", _quote_body(government_subsidy=0.5), "government_subsidy"),
    ("subsidy-true", _quote_body(government_subsidy=True), "government_subsidy"),
    ("subsidy-negative", _quote_body(government_subsidy=-1), "government_subsidy"),
    ("subsidy-equals-amount", _quote_body(government_subsidy=AMOUNT), "government_subsidy"),
    ("subsidy-above-amount", _quote_body(government_subsidy=AMOUNT + 1), "government_subsidy"),
    ("unknown-key", _quote_body(amout=AMOUNT), "amout"),
    ("unknown-key-term", _quote_body(term=12), "term"),
    ("lines-string", _quote_body(lines="phones"), "lines"),
    ("lines-object", _quote_body(lines=_line()), "lines"),
    ("lines-empty", _quote_body(lines=[]), "lines"),
    ("lines-of-strings", _quote_body(lines=["PHONE-1"]), "lines[0].request"),
    ("line-sku-number", _quote_body(lines=[_line(sku=123)]), "lines[0].sku"),
    ("line-sku-null", _quote_body(lines=[_line(sku=None)]), "lines[0].sku"),
    ("line-sku-nul", _quote_body(lines=[_line(sku="PHONE\x00")]), "lines[0].sku"),
    ("line-category-list", _quote_body(lines=[_line(category=["phones"])]), "lines[0].category"),
    ("line-amount-string", _quote_body(lines=[_line(amount=str(AMOUNT))]), "lines[0].amount"),
    ("line-amount-float", _quote_body(lines=[_line(amount=float(AMOUNT))]), "lines[0].amount"),
    ("line-amount-bool", _quote_body(lines=[_line(amount=True)]), "lines[0].amount"),
    ("line-amount-negative", _quote_body(lines=[_line(amount=-1)]), "lines[0].amount"),
    ("line-amount-missing", _quote_body(lines=[{"sku": "A", "category": ""}]), "lines[0].amount"),
    ("line-unknown-key", _quote_body(lines=[_line(price=1)]), "lines[0].price"),
    ("lines-short-of-amount", _quote_body(lines=[_line(amount=AMOUNT - 1)]), "lines"),
    (
        "lines-over-amount",
        _quote_body(lines=[_line(), _line(sku="CASE-1", amount=1)]),
        "lines",
    ),
    ("store-unknown", _quote_body(store="NO-SUCH-STORE"), "store"),
    ("store-number", _quote_body(store=1), "store"),
    ("store-nul", _quote_body(store="S\x00"), "store"),
    ("channel-unknown", _quote_body(channel="mail"), "channel"),
    ("consumer-ref-blank", _quote_body(consumer_ref=""), "consumer_ref"),
    ("consumer-ref-number", _quote_body(consumer_ref=42), "consumer_ref"),
    ("consumer-ref-nul", _quote_body(consumer_ref="c\x00nsumer"), "consumer_ref"),
    ("malformed-json", _raw('{"currency": "CNY", "amount": '), "request"),
    ("trailing-garbage", _raw('{"currency": "CNY", "amount": 600000} x'), "request"),
    ("json-array", _raw('[{"currency": "CNY", "amount": 600000}]'), "request"),
    ("json-empty-array", _raw("[]"), "request"),
    ("json-string", _raw('"CNY 600000"'), "request"),
    ("json-number", _raw("600000"), "request"),
    ("non-utf8", b'{"currency": "CN\xff", "amount": 600000}', "request"),
    (
        "latin1-body",
        '{"currency": "CNY", "amount": 600000, "store": "é"}'.encode("latin-1"),
        "request",
    ),
    ("deeply-nested", _raw("[" * 100_000 + "]" * 100_000), "request"),
]


@pytest.fixture
def merchant_with_campaign(merchant):
    live_campaign(merchant)
    StoreFactory(merchant=merchant, code="CLOSED", active=False)
    return merchant


@pytest.mark.parametrize(
    ("raw", "field_name"),
    [pytest.param(raw, f, id=case_id) for case_id, raw, f in QUOTE_BAD_INPUT],
)
def test_bad_quote_input_is_400_naming_the_field(
    merchant_with_campaign, api_client_for, raw, field_name
):
    client = api_client_for(merchant_with_campaign)
    before = money_totals()
    response = post_raw(client, "/api/v1/quotes", raw)
    body = assert_problem(response, 400, "validation_error")
    assert field_name in body.get("errors", {}), body
    assert money_totals() == before


def test_an_inactive_store_cannot_be_quoted(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    response = post(
        client, "/api/v1/quotes", {"currency": "CNY", "amount": AMOUNT, "store": "CLOSED"}
    )
    assert_field_error(response, "store")


@pytest.mark.parametrize(
    ("amount", "code"), [(9_999, "below_minimum"), (30_000_001, "above_maximum")]
)
def test_amounts_outside_every_term_are_422(merchant_with_campaign, api_client_for, amount, code):
    client = api_client_for(merchant_with_campaign)
    assert_problem(post(client, "/api/v1/quotes", {"currency": "CNY", "amount": amount}), 422, code)


def test_a_good_quote_is_accepted(merchant_with_campaign, api_client_for):
    """The baseline the bad inputs above are variations of."""
    body = quote(api_client_for(merchant_with_campaign), lines=[_line()], channel="online")
    assert [o["term"] for o in body["options"]] == [3, 6, 12]
    assert body["financed_amount"] == AMOUNT


# -- bad input: plans ---------------------------------------------------------------------------


def _plan_raw(qid: str, /, **changes: Any) -> bytes:
    body: dict[str, Any] = plan_body(qid, ref="ORD-BAD-INPUT")
    for key, value in changes.items():
        if value is _MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body).encode()


def _plan_text(template: str):
    return lambda q: template.replace("QUOTE", q).encode()


_P = _plan_raw
PLAN_BAD_INPUT = [
    ("term-string", lambda q: _P(q, term="12"), "term"),
    ("term-float", lambda q: _P(q, term=12.0), "term"),
    (
        "term-exponent",
        _plan_text('{"quote_id": "QUOTE", "term": 1.2e1, "merchant_order_ref": "O-1"}'),
        "term",
    ),
    ("term-true", lambda q: _P(q, term=True), "term"),
    ("term-null", lambda q: _P(q, term=None), "term"),
    ("term-zero", lambda q: _P(q, term=0), "term"),
    ("term-negative", lambda q: _P(q, term=-12), "term"),
    ("term-huge", lambda q: _P(q, term=10**20), "term"),
    ("term-missing", lambda q: _P(q, term=_MISSING), "term"),
    ("term-not-quoted", lambda q: _P(q, term=24), "term"),
    ("quote-id-number", lambda q: _P(q, quote_id=123), "quote_id"),
    ("quote-id-null", lambda q: _P(q, quote_id=None), "quote_id"),
    ("quote-id-missing", lambda q: _P(q, quote_id=_MISSING), "quote_id"),
    ("quote-id-nul", lambda q: _P(q, quote_id=q + "\x00"), "quote_id"),
    ("order-ref-missing", lambda q: _P(q, merchant_order_ref=_MISSING), "merchant_order_ref"),
    ("order-ref-blank", lambda q: _P(q, merchant_order_ref=""), "merchant_order_ref"),
    ("order-ref-number", lambda q: _P(q, merchant_order_ref=42), "merchant_order_ref"),
    ("order-ref-nul", lambda q: _P(q, merchant_order_ref="ORD\x00"), "merchant_order_ref"),
    ("order-ref-too-long", lambda q: _P(q, merchant_order_ref="x" * 129), "merchant_order_ref"),
    ("client-sends-an-amount", lambda q: _P(q, amount=1), "amount"),
    ("client-sends-a-fee", lambda q: _P(q, consumer_fee=0), "consumer_fee"),
    ("malformed-json", _plan_text('{"quote_id": "QUOTE", "term": '), "request"),
    ("json-array", _plan_text('[{"quote_id": "QUOTE", "term": 12}]'), "request"),
    ("json-null", _plan_text("null"), "request"),
    (
        "non-utf8",
        lambda q: b'{"quote_id": "\xfe\xff", "term": 12, "merchant_order_ref": "O"}',
        "request",
    ),
]


@pytest.mark.parametrize(
    ("make", "field_name"),
    [pytest.param(make, f, id=case_id) for case_id, make, f in PLAN_BAD_INPUT],
)
def test_bad_plan_input_is_400_and_commits_nothing(
    merchant_with_campaign, api_client_for, make, field_name
):
    client = api_client_for(merchant_with_campaign)
    raw = make(quote(client)["quote_id"])
    before = money_totals()
    body = assert_problem(
        post_raw(client, "/api/v1/plans", raw, key=new_key()), 400, "validation_error"
    )
    assert field_name in body.get("errors", {}), body
    assert money_totals() == before  # not even an idempotency record


@pytest.mark.parametrize(
    ("quote_id", "status", "code"),
    [
        ("not-a-quote", 404, "not_found"),
        ("", 400, "validation_error"),
        ("x" * (PlanCreateSerializer().fields["quote_id"].max_length + 1), 400, "validation_error"),
    ],
    ids=["garbage", "empty", "too-long"],
)
def test_a_quote_id_that_is_not_a_quote(
    merchant_with_campaign, api_client_for, quote_id, status, code
):
    client = api_client_for(merchant_with_campaign)
    before = money_totals()
    response = post(client, "/api/v1/plans", plan_body(quote_id), key=new_key())
    assert_problem(response, status, code)
    after = money_totals()
    # (a 404 is a business outcome: the key keeps it for replays, §6)
    assert after | {"idempotency_records": 0} == before | {"idempotency_records": 0}


def test_a_tampered_quote_is_404(merchant_with_campaign, api_client_for):
    """The client cannot edit the amounts inside a quote: the signature no longer matches."""
    client = api_client_for(merchant_with_campaign)
    quote_id = quote(client)["quote_id"]
    tampered = quote_id[:-2] + ("A" if quote_id[-2] != "A" else "B") + quote_id[-1]
    response = post(client, "/api/v1/plans", plan_body(tampered), key=new_key())
    assert_problem(response, 404, "not_found")
    assert Plan.objects.count() == 0


@pytest.mark.parametrize(
    "key",
    ["x" * 256, " leading-space", "trailing-space ", "tab\tinside", "caf\u00e9"],
    ids=["too-long", "leading-space", "trailing-space", "control-char", "non-ascii"],
)
def test_a_malformed_idempotency_key_is_400(merchant_with_campaign, api_client_for, key):
    client = api_client_for(merchant_with_campaign)
    body = plan_body(quote(client)["quote_id"])
    before = money_totals()
    response = client.post(
        "/api/v1/plans", body, format="json", HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
    )
    assert_field_error(response, "Idempotency-Key")
    assert money_totals() == before


# -- bad input: refunds -------------------------------------------------------------------------


@pytest.fixture
def plan_with_lines(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    return client, commit(client, lines=LINES)


_R = {"amount": 100_000, "refund_ref": "R-BAD"}
REFUND_BAD_INPUT = [
    ("amount-string", _R | {"amount": "100000"}, "amount"),
    ("amount-float", _R | {"amount": 100000.0}, "amount"),
    ("amount-one-point-zero", '{"amount": 1.0, "refund_ref": "R-BAD"}', "amount"),
    ("amount-exponent", '{"amount": 1e3, "refund_ref": "R-BAD"}', "amount"),
    ("amount-true", _R | {"amount": True}, "amount"),
    ("amount-null", _R | {"amount": None}, "amount"),
    ("amount-negative", _R | {"amount": -100_000}, "amount"),
    ("amount-zero", _R | {"amount": 0}, "amount"),
    ("amount-huge", _R | {"amount": 10**15 + 1}, "amount"),
    ("amount-beyond-bigint", _R | {"amount": 2**64}, "amount"),
    ("amount-missing", {"refund_ref": "R-BAD"}, "amount"),
    ("refund-ref-missing", {"amount": 100_000}, "refund_ref"),
    ("refund-ref-blank", _R | {"refund_ref": ""}, "refund_ref"),
    ("refund-ref-number", _R | {"refund_ref": 7}, "refund_ref"),
    ("refund-ref-nul", _R | {"refund_ref": "R\x00"}, "refund_ref"),
    ("refund-ref-too-long", _R | {"refund_ref": "r" * 129}, "refund_ref"),
    ("reason-number", _R | {"reason": 1}, "reason"),
    ("reason-nul", _R | {"reason": "broken\x00"}, "reason"),
    ("reason-too-long", _R | {"reason": "r" * 501}, "reason"),
    ("unknown-key", _R | {"amout": 1}, "amout"),
    ("lines-string", _R | {"lines": "PHONE-1"}, "lines"),
    ("line-sku-number", _R | {"lines": [{"sku": 1, "amount": 100_000}]}, "lines[0].sku"),
    ("line-amount-string", _R | {"lines": [{"sku": "CASE-1", "amount": "1"}]}, "lines[0].amount"),
    ("line-amount-zero", _R | {"lines": [{"sku": "CASE-1", "amount": 0}]}, "lines[0].amount"),
    (
        "line-unknown-key",
        _R | {"lines": [{"sku": "CASE-1", "amount": 1, "qty": 1}]},
        "lines[0].qty",
    ),
    ("line-not-on-the-plan", _R | {"lines": [{"sku": "NOPE", "amount": 100_000}]}, "lines"),
    (
        "line-more-than-bought",
        _R | {"lines": [{"sku": "CASE-1", "amount": 100_001}]},
        "lines",
    ),
    ("malformed-json", '{"amount": 100000, ', "request"),
    ("json-array", '[{"amount": 100000, "refund_ref": "R-BAD"}]', "request"),
    ("non-utf8", b'{"amount": 100000, "refund_ref": "R-\xff"}', "request"),
]


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "field_name"),
    [pytest.param(b, f, id=case_id) for case_id, b, f in REFUND_BAD_INPUT],
)
def test_bad_refund_input_is_400_and_changes_nothing(plan_with_lines, body, field_name):
    client, plan = plan_with_lines
    path = f"/api/v1/plans/{plan['id']}"
    before, shown = money_totals(), client.get(path).json()
    response = post_raw(client, f"{path}/refunds", _as_bytes(body), key=new_key())
    assert_field_error(response, field_name)
    assert money_totals() == before
    assert client.get(path).json() == shown


def test_a_refund_above_the_balance_is_422_and_changes_nothing(plan_with_lines):
    client, plan = plan_with_lines
    path = f"/api/v1/plans/{plan['id']}"
    before, shown = money_totals(), client.get(path).json()
    body = {"amount": plan["financed_amount"] + 1, "refund_ref": "R-TOO-MUCH"}
    problem = assert_problem(
        post(client, f"{path}/refunds", body, key=new_key()), 422, "refund_exceeds_balance"
    )
    assert problem["remaining"] == plan["financed_amount"]
    after = money_totals()
    assert {k: v for k, v in after.items() if k != "idempotency_records"} == {
        k: v for k, v in before.items() if k != "idempotency_records"
    }
    assert client.get(path).json() == shown


def test_refunding_a_plan_without_lines_by_line_is_400(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    plan = commit(client)
    before = money_totals()
    body = {"amount": 1_000, "refund_ref": "R-1", "lines": [{"sku": "PHONE-1", "amount": 1_000}]}
    response = post(client, f"/api/v1/plans/{plan['id']}/refunds", body, key=new_key())
    assert_field_error(response, "lines")
    assert money_totals() == before


@pytest.mark.parametrize(
    "body",
    ['{"reason": "payment failed"}', "[1]", '"void"', "true", "{", "[]", "false", "0", "null"],
)
def test_a_void_takes_no_body(plan_with_lines, body):
    """An empty object or no body at all; anything else is refused (a falsy body such as ``[]`` or
    ``false`` was once taken for no body)."""
    client, plan = plan_with_lines
    before = money_totals()
    response = post_raw(client, f"/api/v1/plans/{plan['id']}/void", body, key=new_key())
    assert_problem(response, 400, "validation_error")
    assert money_totals() == before


@pytest.mark.parametrize("body", ["", "{}"], ids=["no-body", "empty-object"])
def test_a_void_with_no_body_or_an_empty_object(plan_with_lines, body):
    client, plan = plan_with_lines
    response = post_raw(client, f"/api/v1/plans/{plan['id']}/void", body, key=new_key())
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "voided"


# -- precedence (§6): idempotency_key_required → validation_error → idempotency → 403 → 404 ---


def _bad_plan_bodies(quote_id: str) -> list[Any]:
    return [
        {},
        {"quote_id": quote_id, "term": "12", "merchant_order_ref": "O-1"},
        {"quote_id": quote_id, "term": 12, "merchant_order_ref": "O-1", "amount": 1},
        "[1, 2]",
        '{"quote_id": ',
    ]


@pytest.mark.parametrize("header", [None, ""], ids=["absent", "empty"])
def test_a_missing_idempotency_key_wins_over_a_bad_body(
    merchant_with_campaign, api_client_for, header
):
    client = api_client_for(merchant_with_campaign)
    plan = commit(client)
    quote_id = quote(client)["quote_id"]
    before = money_totals()
    extra = {} if header is None else {"HTTP_IDEMPOTENCY_KEY": header}
    requests = (
        [("/api/v1/plans", body) for body in [plan_body(quote_id), *_bad_plan_bodies(quote_id)]]
        + [
            (f"/api/v1/plans/{plan['id']}/refunds", body)
            for body in [{"amount": 1, "refund_ref": "R-1"}, {"amount": "1"}, {}, "[]", "{"]
        ]
        + [(f"/api/v1/plans/{plan['id']}/void", body) for body in [{}, {"why": 1}, "{"]]
        + [
            # … and over the 404 of a plan that does not exist
            (f"/api/v1/plans/{uuid.uuid4()}/refunds", {"amount": "x"}),
            (f"/api/v1/plans/{uuid.uuid4()}/void", {}),
        ]
    )
    for path, body in requests:
        raw = _as_bytes(body)
        response = client.post(path, raw, content_type="application/json", **extra)
        assert_problem(response, 400, "idempotency_key_required")
    assert money_totals() == before


def test_validation_wins_over_not_found(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    path = f"/api/v1/plans/{uuid.uuid4()}/refunds"
    assert_field_error(
        post(client, path, {"amount": 1.5, "refund_ref": "R"}, key=new_key()), "amount"
    )
    assert_problem(
        post(client, path, {"amount": 1, "refund_ref": "R"}, key=new_key()), 404, "not_found"
    )


# -- idempotency --------------------------------------------------------------------------------


def test_a_replay_returns_the_same_bytes_and_does_nothing_again(
    merchant_with_campaign, api_client_for
):
    client = api_client_for(merchant_with_campaign)
    body, key = plan_body(quote(client)["quote_id"]), new_key()
    first = post(client, "/api/v1/plans", body, key=key)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    after_first = money_totals()

    # the same JSON value with other key order and spacing is "the same body"
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    for again in (
        post(client, "/api/v1/plans", body, key=key),
        post_raw(client, "/api/v1/plans", reordered, key=key),
    ):
        assert again.status_code == 201
        assert again.content == first.content
        assert again["Idempotent-Replayed"] == "true"
        assert again["Content-Type"] == first["Content-Type"]
    assert money_totals() == after_first
    assert Plan.objects.filter(merchant=merchant_with_campaign).count() == 1


def test_a_reused_key_with_another_body_is_422(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    quote_id, key = quote(client)["quote_id"], new_key()
    first = post(client, "/api/v1/plans", plan_body(quote_id, ref="ORD-1"), key=key)
    assert first.status_code == 201
    before = money_totals()
    for other in (
        plan_body(quote_id, ref="ORD-2"),
        plan_body(quote_id, ref="ORD-1", term=6),
        plan_body(quote(client)["quote_id"], ref="ORD-1"),
    ):
        assert_problem(post(client, "/api/v1/plans", other, key=key), 422, "idempotency_key_reused")
    assert money_totals() == before
    assert not Plan.objects.filter(merchant_order_ref="ORD-2").exists()
    # the original outcome is still what the key replays
    again = post(client, "/api/v1/plans", plan_body(quote_id, ref="ORD-1"), key=key)
    assert (again.content, again["Idempotent-Replayed"]) == (first.content, "true")


def test_refund_and_void_replays(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    plan = commit(client)
    path = f"/api/v1/plans/{plan['id']}"
    refund_body, refund_key = {"amount": 100_000, "refund_ref": "R-1"}, new_key()
    first = post(client, f"{path}/refunds", refund_body, key=refund_key)
    assert first.status_code == 201
    after_refund = money_totals()
    again = post(client, f"{path}/refunds", refund_body, key=refund_key)
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (
        201,
        first.content,
        "true",
    )
    assert money_totals() == after_refund
    assert Refund.objects.count() == 1
    assert_problem(
        post(client, f"{path}/refunds", refund_body | {"amount": 1}, key=refund_key),
        422,
        "idempotency_key_reused",
    )

    void_key = new_key()
    voided = post(client, f"{path}/void", key=void_key)
    assert voided.status_code == 200 and voided.json()["status"] == "voided"
    replay = post(client, f"{path}/void", key=void_key)
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (
        200,
        voided.content,
        "true",
    )
    # a new key is a new request: the plan is no longer voidable
    assert_problem(post(client, f"{path}/void", key=new_key()), 409, "plan_not_voidable")


def test_a_business_outcome_is_stored_and_replayed(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    plan = commit(client)
    path, key = f"/api/v1/plans/{plan['id']}/refunds", new_key()
    body = {"amount": plan["financed_amount"] + 1, "refund_ref": "R-1"}
    first = post(client, path, body, key=key)
    assert_problem(first, 422, "refund_exceeds_balance")
    again = post(client, path, body, key=key)
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (
        422,
        first.content,
        "true",
    )


def test_a_validation_error_is_not_stored(merchant_with_campaign, api_client_for):
    """Validation comes before the idempotency check (§6): fixing the body and retrying with the
    same key does the work."""
    client = api_client_for(merchant_with_campaign)
    quote_id, key = quote(client)["quote_id"], new_key()
    bad = plan_body(quote_id) | {"term": "12"}
    assert_field_error(post(client, "/api/v1/plans", bad, key=key), "term")
    good = post(client, "/api/v1/plans", bad | {"term": 12}, key=key)
    assert good.status_code == 201, good.content
    assert "Idempotent-Replayed" not in good


def test_keys_are_scoped_per_path(merchant_with_campaign, api_client_for):
    client = api_client_for(merchant_with_campaign)
    key = new_key()
    first = post(client, "/api/v1/plans", plan_body(quote(client)["quote_id"]), key=key)
    assert first.status_code == 201
    second = post(client, "/api/v1/plans", plan_body(quote(client)["quote_id"]), key=new_key())
    assert second.status_code == 201
    plan, other = first.json(), second.json()

    for target in (plan, other):  # the same key on two plans' refunds paths: two refunds
        response = post(
            client,
            f"/api/v1/plans/{target['id']}/refunds",
            {"amount": 1_000, "refund_ref": f"R-{target['id']}"},
            key=key,
        )
        assert response.status_code == 201, response.content
        assert "Idempotent-Replayed" not in response
    voided = post(client, f"/api/v1/plans/{plan['id']}/void", key=key)
    assert voided.status_code == 200 and "Idempotent-Replayed" not in voided
    assert Refund.objects.count() == 2
    assert Plan.objects.get(pk=plan["id"]).status == "voided"


def test_keys_are_scoped_per_merchant_and_mode(api_client_for):
    merchant, other_merchant = MerchantFactory(), MerchantFactory()
    clients = [
        api_client_for(merchant, "live"),
        api_client_for(merchant, "test"),
        api_client_for(other_merchant, "live"),
    ]
    key = new_key()
    for client in clients:
        body = plan_body(quote(client)["quote_id"], ref="ORD-SAME")
        response = post(client, "/api/v1/plans", body, key=key)
        assert response.status_code == 201, response.content
        assert "Idempotent-Replayed" not in response
    assert Plan.objects.filter(merchant_order_ref="ORD-SAME").count() == 3


# -- frozen merchants ---------------------------------------------------------------------------


@pytest.fixture
def frozen(merchant, api_client_for):
    """A merchant with a live campaign, two committed plans and a quote, then frozen."""
    live_campaign(merchant)
    client = api_client_for(merchant)
    plans = [commit(client), commit(client)]
    pending_quote = quote(client)["quote_id"]
    merchant_freeze(merchant=merchant, reason="compliance review")
    return client, plans, pending_quote


def test_a_frozen_merchant_cannot_quote_or_commit(frozen):
    client, _, pending_quote = frozen
    before = money_totals()
    assert_problem(
        post(client, "/api/v1/quotes", {"currency": "CNY", "amount": AMOUNT}),
        403,
        "merchant_frozen",
    )
    body, key = plan_body(pending_quote), new_key()
    assert_problem(post(client, "/api/v1/plans", body, key=key), 403, "merchant_frozen")
    assert_problem(post(client, "/api/v1/campaigns", CAMPAIGN_BODY), 403, "merchant_frozen")
    assert money_totals() == before  # a 403 is not stored either


def test_a_403_is_not_stored(frozen, merchant):
    client, _, pending_quote = frozen
    body, key = plan_body(pending_quote), new_key()
    assert_problem(post(client, "/api/v1/plans", body, key=key), 403, "merchant_frozen")
    merchant_unfreeze(merchant=merchant, reason="review closed")
    retried = post(client, "/api/v1/plans", body, key=key)
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried


def test_a_frozen_merchant_keeps_voids_refunds_and_reads(frozen):
    client, (to_refund, to_void), _ = frozen
    entries = LedgerEntry.objects.count()

    refunded = post(
        client,
        f"/api/v1/plans/{to_refund['id']}/refunds",
        {"amount": to_refund["financed_amount"], "refund_ref": "R-FULL"},
        key=new_key(),
    )
    assert refunded.status_code == 201, refunded.content
    assert refunded.json()["plan"]["status"] == "refunded"
    assert refunded.json()["subsidy_reversed"] == to_refund["merchant_subsidy"]

    voided = post(client, f"/api/v1/plans/{to_void['id']}/void", key=new_key())
    assert voided.status_code == 200, voided.content
    assert voided.json()["status"] == "voided"
    assert LedgerEntry.objects.count() == entries + 2  # both reversals were booked

    assert client.get(f"/api/v1/plans/{to_refund['id']}").json()["status"] == "refunded"
    listed = client.get(f"/api/v1/plans/{to_refund['id']}/refunds").json()["results"]
    assert [r["refund_ref"] for r in listed] == ["R-FULL"]
    assert {p["id"] for p in client.get("/api/v1/plans").json()["results"]} == {
        to_refund["id"],
        to_void["id"],
    }
    for path in ("/api/v1/campaigns", "/api/v1/stores"):
        assert client.get(path).status_code == 200


def test_frozen_precedence(frozen):
    """Bad input and a missing key are reported before the freeze (§6), and a replay of an
    outcome stored before the freeze is still a replay."""
    client, _, pending_quote = frozen
    assert_field_error(post(client, "/api/v1/quotes", {"currency": "CNY", "amount": "1"}), "amount")
    assert_problem(
        post(client, "/api/v1/plans", plan_body(pending_quote)), 400, "idempotency_key_required"
    )
    assert_field_error(
        post(client, "/api/v1/plans", plan_body(pending_quote) | {"term": 1.0}, key=new_key()),
        "term",
    )


def test_a_replay_wins_over_the_freeze(merchant, api_client_for):
    live_campaign(merchant)
    client = api_client_for(merchant)
    body, key = plan_body(quote(client)["quote_id"]), new_key()
    first = post(client, "/api/v1/plans", body, key=key)
    assert first.status_code == 201
    merchant_freeze(merchant=merchant, reason="compliance review")
    again = post(client, "/api/v1/plans", body, key=key)
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (
        201,
        first.content,
        "true",
    )
    other = body | {"merchant_order_ref": "ORD-OTHER"}
    assert_problem(post(client, "/api/v1/plans", other, key=key), 422, "idempotency_key_reused")
