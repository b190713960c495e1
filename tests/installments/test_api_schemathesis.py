"""Schemathesis against the published OpenAPI schema (``/api/schema/``, DESIGN.md §6).

Every operation of the schema is called in process, through the WSGI application, with a valid live
API key, on examples, boundary cases (schemathesis's coverage phase: missing and malformed values,
unsupported methods …) and fuzzed input, positive and negative. For every response:

- it is not a 5xx;
- its status code is one the operation documents;
- its content type and body are the documented ones (schemathesis's own checks);
- a problem (``application/problem+json``) also carries the HTTP status as ``status`` and a
  ``code`` the operation documents for that status.

About half of the path ids, quote ids, currencies, amounts and store codes are swapped for real
ones (a live campaign's plans, its refunds, a settled statement …), so the fuzzing reaches the
commit, void and refund paths instead of stopping at 404 and 400.

What these checks found is kept at the end of this module as deterministic regression tests
(``test_options_on_plan_endpoints_is_not_a_server_error`` and the tests after it).

Examples run in one database transaction per operation, each request in its own savepoint (see
``_call``), which keeps the module quick; ``world`` is rebuilt for every operation."""

from __future__ import annotations

import json
import random
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as timezone_
from typing import Any

import jsonschema
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from installments.settlement import settlement_run_for_date, settlement_today
from installments.settlement_models import Statement
from merchants.services import api_key_create
from tests.factories import CampaignFactory, MerchantFactory, OfferFactory, StoreFactory

MAX_EXAMPLES = 25

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES},
        "operations": [
            {
                # A campaign has dozens of nested fields: the coverage phase's negative cases alone
                # come to ~290 requests per operation. Their bad input is checked field by field in
                # tests/campaigns/test_api*.py; here they get positive boundary cases and fuzzing.
                "include-path-regex": r"^/api/v1/campaigns(/\{id\})?$",
                "include-method": ["POST", "PUT", "PATCH"],
                "phases": {"coverage": {"generation": {"mode": "positive"}}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)

RAW: dict[str, Any] = schema.raw_schema
PROBLEM = "application/problem+json"
LIST_OPERATIONS = (
    "GET /api/v1/campaigns",
    "GET /api/v1/stores",
    "GET /api/v1/plans",
    "GET /api/v1/settlements",
)


# -- a merchant with something in every collection ----------------------------------------------


@dataclass
class World:
    headers: dict[str, str]
    store_code: str
    ids: dict[str, list[str]] = field(default_factory=dict)
    quote_ids: list[str] = field(default_factory=list)


def _post(client: APIClient, path: str, body: Any, *, key: bool = False) -> dict[str, Any]:
    extra = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if key else {}
    response = client.post(path, body, format="json", **extra)
    assert response.status_code in (200, 201), response.content
    return response.json()


@pytest.fixture
def world(db, api_client_for) -> World:
    """Built afresh for each operation (its transaction is rolled back after it); every example of
    that operation runs against it, with the same live key."""
    merchant = MerchantFactory()
    store = StoreFactory(merchant=merchant, code="MAIN")
    now = timezone.now()
    live = CampaignFactory(
        merchant=merchant,
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        budget_total=50_000_000,
    )
    OfferFactory(campaign=live, term=3, merchant_share_bp=5000, min_amount=10_000)
    campaigns = [
        live,
        CampaignFactory(merchant=merchant),
        CampaignFactory(merchant=merchant, status="paused"),
        CampaignFactory(merchant=merchant, status="rejected"),
    ]
    client = api_client_for(merchant)
    quotes = [
        _post(client, "/api/v1/quotes", {"currency": "CNY", "amount": 600_000})["quote_id"],
        _post(
            client,
            "/api/v1/quotes",
            {
                "currency": "CNY",
                "amount": 700_000,
                "government_subsidy": 50_000,
                "store": "MAIN",
                "channel": "in_store",
                "consumer_ref": "consumer-1",
                "lines": [
                    {"sku": "PHONE-1", "category": "phones", "amount": 600_000},
                    {"sku": "CASE-1", "category": "accessories", "amount": 100_000},
                ],
            },
        )["quote_id"],
    ]
    plans = [
        _post(
            client,
            "/api/v1/plans",
            {"quote_id": quote_id, "term": term, "merchant_order_ref": f"seed-{n}"},
            key=True,
        )["id"]
        for n, (quote_id, term) in enumerate([(quotes[0], 12), (quotes[1], 12), (quotes[1], 3)])
    ]
    _post(
        client,
        f"/api/v1/plans/{plans[1]}/refunds",
        {"amount": 50_000, "refund_ref": "seed-refund"},
        key=True,
    )
    settlement_run_for_date(business_date=settlement_today(), merchant_id=merchant.pk, inline=True)
    statements = [
        str(pk) for pk in Statement.objects.filter(merchant=merchant).values_list("pk", flat=True)
    ]
    assert statements, "the seeded plans should have settled into a statement"
    issued = api_key_create(merchant=merchant, mode="live")
    return World(
        headers={"Authorization": f"Bearer {issued.raw_key}"},
        store_code=store.code,
        ids={
            "campaigns": [str(c.pk) for c in campaigns],
            "stores": [str(store.pk)],
            "plans": plans,
            "settlements": statements,
        },
        quote_ids=quotes,
    )


@pytest.fixture
def kept_connection(world):
    """Keep the test's database connection (and so its transaction) across the WSGI requests, as
    Django's own test client does; the test settings' ``CONN_MAX_AGE = 0`` would close it after
    every request. (After ``world``: the test client puts the signal back after each request.)"""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _call(case: Any, headers: dict[str, str], on_commit: Any) -> Any:
    """One request, as if it were alone: in its own savepoint of the test's transaction (a
    statement PostgreSQL refuses, answered with a 500, must not poison the examples after it), with
    the callbacks it leaves for after the commit (alert e-mails …) run when it ends."""
    sid = transaction.savepoint()
    with on_commit(execute=True):
        response = case.call(headers=headers)
    try:
        transaction.savepoint_commit(sid)
    except DatabaseError:
        transaction.savepoint_rollback(sid)
    return response


def _aim_at_real_objects(case: Any, world: World) -> None:
    """Swap some generated values for real ones, so the happy paths are fuzzed too. The choices
    are derived from the generated case itself, so a failing example replays the same way."""
    rng = random.Random(zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode()))
    resource = case.path.split("/")[3]
    real_ids = world.ids.get(resource)
    if real_ids and "id" in (case.path_parameters or {}) and rng.random() < 0.5:
        case.path_parameters["id"] = rng.choice(real_ids)
    if case.headers and "Idempotency-Key" in case.headers and rng.random() < 0.5:
        # a small pool of valid keys: some requests are replays, some reuse a key on another body
        case.headers["Idempotency-Key"] = f"key-{rng.randrange(8)}"
    body = case.body
    if not isinstance(body, dict) or rng.random() < 0.5:
        return
    label = case.operation.label
    if label == "POST /api/v1/quotes":
        case.body = _a_valid_basket(body, rng, world)
    elif label == "POST /api/v1/plans":
        case.body = {
            "quote_id": rng.choice(world.quote_ids),
            "term": rng.choice([3, 6, 12, body.get("term")]),
            "merchant_order_ref": _text(
                body.get("merchant_order_ref"), f"order-{rng.randrange(50)}"
            ),
        }
    elif label == "POST /api/v1/plans/{id}/refunds":
        refund: dict[str, Any] = {
            "amount": rng.randint(1, 200_000),
            "refund_ref": _text(body.get("refund_ref"), f"refund-{rng.randrange(50)}"),
        }
        if rng.random() < 0.3:
            refund["lines"] = [{"sku": "PHONE-1", "amount": rng.randint(1, 60_000)}]
        if isinstance(body.get("reason"), str):
            refund["reason"] = body["reason"]
        case.body = refund
    else:
        if "currency" in body:
            body["currency"] = "CNY"
        if "store" in body:
            body["store"] = world.store_code


def _text(value: Any, fallback: str) -> str:
    return value if isinstance(value, str) and value.strip() and len(value) <= 128 else fallback


def _a_valid_basket(generated: dict[str, Any], rng: random.Random, world: World) -> dict:
    """A quote request that passes validation, keeping what was generated where it may."""
    amount = rng.randint(10_000, 30_000_000)
    basket: dict[str, Any] = {"currency": "CNY", "amount": amount}
    if rng.random() < 0.5:
        basket["government_subsidy"] = rng.randint(0, amount // 2)
    if rng.random() < 0.5:
        basket["store"] = world.store_code
    if rng.random() < 0.5:
        basket["channel"] = rng.choice(["online", "in_store"])
    if rng.random() < 0.5:
        basket["consumer_ref"] = _text(
            generated.get("consumer_ref"), f"consumer-{rng.randrange(5)}"
        )
    lines = generated.get("lines")
    if isinstance(lines, list) and lines and rng.random() < 0.7:
        cuts = sorted(rng.randint(0, amount) for _ in range(len(lines) - 1))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]
        basket["lines"] = [
            {
                "sku": _text(line.get("sku") if isinstance(line, dict) else None, f"SKU-{n}")[:64],
                "category": rng.choice(["phones", "accessories", ""]),
                "amount": share,
            }
            for n, (line, share) in enumerate(zip(lines, shares, strict=True))
        ]
    return basket


# -- the checks ---------------------------------------------------------------------------------


def _problem_schema() -> dict[str, Any]:
    """The documented Problem schema, with the components its references point into."""
    return {**RAW["components"]["schemas"]["Problem"], "components": RAW["components"]}


def _ref_resolved(schema_part: dict[str, Any]) -> dict[str, Any]:
    ref = schema_part.get("$ref", "")
    return RAW["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema_part


def _responses(case: Any) -> dict[str, Any]:
    return RAW["paths"][case.path][case.operation.method.lower()]["responses"]


def _is_problem(response: Any) -> bool:
    return (response.headers.get("content-type") or [""])[0].split(";")[0] == PROBLEM


def problem_conformance(ctx: Any, response: Any, case: Any) -> bool | None:
    """A problem matches the documented Problem schema, carries the HTTP status, and its ``code``
    is one the operation documents for that status (schemathesis checks the body's shape too; the
    codes it cannot know)."""
    if not _is_problem(response) or case.method.upper() != case.operation.method.upper():
        return None  # an unsupported method (405) is not the operation's response
    documented = _responses(case).get(str(response.status_code))
    if documented is None:
        return None  # an undocumented status is status_code_conformance's to report
    schema_part = documented["content"][PROBLEM]["schema"]
    assert _ref_resolved(schema_part) == RAW["components"]["schemas"]["Problem"], documented
    body = json.loads(response.content)
    jsonschema.validate(body, _problem_schema())
    assert body["status"] == response.status_code, body
    codes = re.findall(r"`(\w+)`", documented.get("description", ""))
    assert body["code"] in codes, (
        f"{body['code']!r} is not documented for {response.status_code}: {codes}"
    )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_conformance,
]


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(
    kept_connection, case, world, django_capture_on_commit_callbacks
):
    _aim_at_real_objects(case, world)
    response = _call(case, world.headers, django_capture_on_commit_callbacks)
    case.validate_response(response, checks=CHECKS, headers=world.headers)
    if response.status_code == 401:  # only the cases that leave the key out on purpose
        assert "Authorization" not in response.request.headers


class _RefusedByPostgres:
    """A stand-in request whose statement PostgreSQL refuses, answered with a 500 as Django does."""

    def call(self, headers: dict[str, str]) -> int:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")
        except DatabaseError:
            return 500
        return 200


def test_a_refused_statement_does_not_poison_the_next_example(
    kept_connection, world, django_capture_on_commit_callbacks
):
    """The harness: a request whose statement PostgreSQL refuses is rolled back to its savepoint,
    and the examples after it run on a healthy transaction."""
    assert _call(_RefusedByPostgres(), world.headers, django_capture_on_commit_callbacks) == 500
    plans = schema["/api/v1/plans"]["GET"]
    after = _call(plans.Case(query={}), world.headers, django_capture_on_commit_callbacks)
    assert after.status_code == 200
    assert {plan["id"] for plan in after.json()["results"]} == set(world.ids["plans"])


# -- what the checks found, kept as regressions ---------------------------------------------------


@pytest.fixture
def client(db, api_client_for):
    client = api_client_for(MerchantFactory())
    client.raise_request_exception = False
    return client


def _in_savepoint(request: Any) -> Any:
    sid = transaction.savepoint()  # a refused statement must not abort the test's transaction
    response = request()
    try:
        transaction.savepoint_commit(sid)
    except DatabaseError:
        transaction.savepoint_rollback(sid)
    return response


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/plans",
        f"/api/v1/plans/{uuid.UUID(int=1)}/void",
        f"/api/v1/plans/{uuid.UUID(int=1)}/refunds",
    ],
)
def test_options_on_plan_endpoints_is_not_a_server_error(client, path):
    """Found: 500 (PlanViewSet had no serializer_class for DRF's OPTIONS metadata)."""
    assert client.options(path).status_code < 500


def test_problems_are_documented_as_problem_json():
    """Found: every problem was documented as application/json."""
    undocumented = [
        f"{method.upper()} {path} {status}"
        for path, item in RAW["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and set(response.get("content", {})) != {PROBLEM}
    ]
    assert undocumented == []


def test_problem_schema_fits_problems_without_field_errors(client):
    """Found: the Problem schema required ``errors``, which only validation problems carry."""
    response = client.get(f"/api/v1/plans/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "errors" not in response.json()
    jsonschema.validate(response.json(), _problem_schema())


@pytest.mark.parametrize("label", LIST_OPERATIONS)
def test_list_endpoints_document_their_answer_to_a_bad_cursor(client, label):
    """Found: an invalid ``cursor`` was an undocumented 404."""
    path = label.split(" ", 1)[1]
    response = client.get(path, {"cursor": "not-a-cursor"})
    assert response.status_code == 404
    assert "404" in RAW["paths"][path]["get"]["responses"]


def test_the_statements_list_documents_its_auth_error(db):
    """Found: GET /api/v1/settlements documented only 200."""
    response = APIClient().get("/api/v1/settlements")
    assert response.status_code == 401
    assert {"401", "429"} <= set(RAW["paths"]["/api/v1/settlements"]["get"]["responses"])


@pytest.mark.parametrize("offset", ["+16:00", "-23:59"])
def test_plan_list_date_filters_take_any_iso_offset(db, api_client_for, offset):
    """Found: an offset beyond ±15:59 reached PostgreSQL, which refused it (500)."""
    merchant = MerchantFactory()
    client = api_client_for(merchant)
    quote_id = _post(client, "/api/v1/quotes", {"currency": "CNY", "amount": 600_000})["quote_id"]
    plan = _post(
        client,
        "/api/v1/plans",
        {"quote_id": quote_id, "term": 12, "merchant_order_ref": "o-1"},
        key=True,
    )
    created = datetime.fromisoformat(plan["created_at"])
    sign, hours, minutes = offset[0], int(offset[1:3]), int(offset[4:6])
    zone = timezone_(timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1))
    at = created.astimezone(zone).isoformat()
    for name, expected in (("created_after", [plan["id"]]), ("created_before", [])):
        response = _in_savepoint(lambda n=name: client.get("/api/v1/plans", {n: at}))
        assert response.status_code == 200, response.content
        assert [p["id"] for p in response.json()["results"]] == expected


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"], ids=["year-1", "year-9999"]
)
def test_plan_list_date_filters_outside_the_calendar_are_4xx(client, value):
    response = _in_savepoint(lambda: client.get("/api/v1/plans", {"created_after": value}))
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"] == PROBLEM


@pytest.mark.parametrize("field_name", ["starts_at", "ends_at"])
def test_campaign_times_at_the_edge_of_the_calendar_are_400(client, field_name):
    """Found: a campaign time in year 1 (no offset, read in the merchant's zone) overflowed when
    turned into UTC (500)."""
    from tests.campaigns.test_api import BODY

    response = client.post(
        "/api/v1/campaigns", {**BODY, field_name: "0001-01-01T00:00:00"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert field_name in response.json()["errors"]
