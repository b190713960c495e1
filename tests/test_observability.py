"""What operators see and what clients get when a part is down: request ids and JSON-line logs,
``503 service_unavailable`` for outages, the throttle's breaker, and ``/readyz``'s Redis checks.
(The failure tests that really break PostgreSQL, Redis and workers are in ``tests/resilience``.)"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

import kombu.exceptions
import pytest
import redis
from django.db import OperationalError
from django.test import RequestFactory

from config import observability, outages
from config.observability import (
    JsonFormatter,
    RequestContextFilter,
    request_id_from,
    request_id_var,
    task_var,
)
from merchants.api_base import ApiKeyRateThrottle, CacheBreaker
from tests.resilience.harness import free_port

BASKET = {
    "currency": "CNY",
    "amount": 599_900,
    "lines": [{"sku": "P70", "category": "phones", "amount": 599_900}],
}


# --------------------------------------------------------------------------------------------------
# Request ids


@pytest.mark.parametrize(
    "sent",
    ["abc-123", "7d0c5e2a-9f1b-4c3d-8e7f-0a1b2c3d4e5f", "lb:1.2/x+y=z@edge_9", "A" * 128],
)
def test_a_sane_request_id_is_kept(sent):
    assert request_id_from(sent) == sent


@pytest.mark.parametrize(
    "sent",
    [None, "", "has space", "x\r\nSet-Cookie: a=b", "A" * 129, "-leading", "名前", '{"a":1}'],
)
def test_anything_else_gets_a_new_request_id(sent):
    made = request_id_from(sent)
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert made != request_id_from(sent)


@pytest.mark.django_db
def test_every_response_echoes_its_request_id(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="probe-42")
    assert given["X-Request-ID"] == "probe-42"
    made = client.get("/api/v1/plans", HTTP_X_REQUEST_ID="bad id")
    assert made.status_code == 401
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    missing = client.get("/no-such-page/")
    assert missing.status_code in (302, 404)
    assert re.fullmatch(r"[0-9a-f]{32}", missing["X-Request-ID"])
    assert request_id_var.get() is None  # nothing leaks past the request


@pytest.mark.django_db
def test_each_request_is_logged_once_with_its_id_and_outcome(client, caplog):
    with caplog.at_level(logging.INFO, logger="config.requests"):
        client.get("/api/v1/plans", HTTP_X_REQUEST_ID="req-1")
        client.get("/healthz", HTTP_X_REQUEST_ID="probe-1")
    (line,) = [r for r in caplog.records if r.name == "config.requests"]  # probes: DEBUG only
    assert (line.http_method, line.path, line.status) == ("GET", "/api/v1/plans", 401)
    assert line.duration_ms >= 0
    RequestContextFilter().filter(line)
    assert line.request_id is None or line.request_id == "req-1"


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("some.logger", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_json_lines_carry_the_request_id_the_task_and_extra_fields():
    request_token = request_id_var.set("req-7")
    task_token = task_var.set(("campaigns.alert_email", "t-1"))
    try:
        record = _record("hello %s", "world", status=201, path="/api/v1/plans")
        RequestContextFilter().filter(record)
    finally:
        task_var.reset(task_token)
        request_id_var.reset(request_token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO" and entry["logger"] == "some.logger"
    assert entry["request_id"] == "req-7"
    assert (entry["task"], entry["task_id"]) == ("campaigns.alert_email", "t-1")
    assert (entry["status"], entry["path"]) == (201, "/api/v1/plans")
    assert entry["time"].endswith("+00:00")


def test_json_lines_keep_tracebacks_on_one_line():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RequestContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert "ValueError: boom" in entry["exc"] and "request_id" not in entry


def test_task_messages_carry_the_request_id_and_tasks_run_under_it():
    headers: dict[str, object] = {}
    observability._before_task_publish(headers=headers)
    assert headers == {}  # no request, no id
    token = request_id_var.set("req-9")
    try:
        observability._before_task_publish(headers=headers)
    finally:
        request_id_var.reset(token)
    assert headers == {"request_id": "req-9"}

    class Task:
        name = "campaigns.alert_email"

        class request:
            @staticmethod
            def get(name: str) -> object:
                return headers.get(name)

    observability._task_prerun(task_id="t-2", task=Task())
    assert request_id_var.get() == "req-9"
    assert task_var.get() == ("campaigns.alert_email", "t-2")
    observability._task_postrun(task_id="t-2")
    assert request_id_var.get() is None and task_var.get() is None


# --------------------------------------------------------------------------------------------------
# Outages answer 503


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        kombu.exceptions.OperationalError("Error 111 connecting"),
    ],
    ids=["postgres", "redis", "redis-timeout", "broker"],
)
def test_an_outage_in_an_api_call_is_a_clean_503_problem(
    error, merchant, api_client_for, monkeypatch
):
    import installments.apis

    def down(**_: object) -> None:
        raise error

    monkeypatch.setattr(installments.apis, "quote_create", down)
    response = api_client_for(merchant).post("/api/v1/quotes", BASKET, format="json")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(outages.RETRY_AFTER_SECONDS)
    assert response.json()["code"] == "service_unavailable"


def _server_error_for(path: str, error: Exception):
    try:
        raise error
    except Exception:
        return outages.server_error(RequestFactory().get(path))


def test_an_outage_outside_the_api_views_is_503_not_500():
    from config import urls

    assert urls.handler500 is outages.server_error
    api = _server_error_for("/api/v1/plans", OperationalError("gone"))
    assert api.status_code == 503 and api["Content-Type"] == "application/problem+json"
    assert json.loads(api.content)["code"] == "service_unavailable"
    page = _server_error_for("/campaigns/", redis.exceptions.ConnectionError("refused"))
    assert page.status_code == 503 and page["Retry-After"].isdigit()
    assert "Temporarily unavailable" in page.content.decode()
    bug = _server_error_for("/campaigns/", KeyError("a bug"))
    assert bug.status_code == 500


def test_an_outage_is_recognised_through_wrapping_exceptions():
    try:
        try:
            raise redis.exceptions.ConnectionError("refused")
        except redis.exceptions.ConnectionError as exc:
            raise RuntimeError("while counting") from exc
    except RuntimeError as wrapped:
        assert outages.outage_of(wrapped) == "redis"
    assert outages.outage_of(ValueError("no")) is None


# --------------------------------------------------------------------------------------------------
# The throttle when Redis is down


class _DeadCache:
    def __init__(self) -> None:
        self.calls = 0

    def add(self, *args: object, **kwargs: object) -> bool:
        self.calls += 1
        raise redis.exceptions.ConnectionError("Connection refused")

    incr = set = add


@pytest.mark.django_db
def test_checkouts_go_on_unthrottled_while_the_cache_is_down_and_ask_it_again_later(
    merchant, api_client_for, monkeypatch
):
    dead = _DeadCache()
    breaker = CacheBreaker(open_seconds=0.3)
    monkeypatch.setattr(ApiKeyRateThrottle, "cache", dead)
    monkeypatch.setattr(ApiKeyRateThrottle, "breaker", breaker)
    client = api_client_for(merchant)
    for _ in range(5):
        assert client.post("/api/v1/quotes", BASKET, format="json").status_code == 200
    assert dead.calls == 1  # asked once, then left alone while the breaker is open
    time.sleep(0.35)
    assert client.get("/api/v1/plans").status_code == 200
    assert dead.calls == 2  # asked again once the breaker closed


# --------------------------------------------------------------------------------------------------
# /readyz


@pytest.mark.django_db
def test_readyz_checks_the_cache_and_the_broker_when_they_are_redis(settings, client, redis_url):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}
    }
    settings.CELERY_BROKER_URL = redis_url
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 2.5
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == checks["migrations"] == checks["broker"] == "ok"
    assert checks["redis"].startswith("unavailable")

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_readyz_without_redis_configured_checks_the_database_only(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}


@pytest.mark.django_db(transaction=True)
def test_a_settlement_run_started_while_the_broker_is_down_is_left_to_the_sweep(
    monkeypatch, caplog
):
    from datetime import timedelta

    from installments.settlement import settlement_run_for_date, settlement_sweep
    from installments.settlement_models import SettlementRun
    from installments.tasks import settle_batch_task
    from tests.installments.test_settlement_worker import D1, merchants_with_plans

    merchants_with_plans(2)

    def broker_down(*args: object, **kwargs: object) -> None:
        raise kombu.exceptions.OperationalError("Error 111 connecting to redis:6379")

    with monkeypatch.context() as patched:
        patched.setattr(settle_batch_task, "delay", broker_down)
        run = settlement_run_for_date(business_date=D1, batch_size=1)  # no exception
    assert run.status == "running"
    assert set(run.batches.values_list("status", flat=True)) == {"pending"}
    assert "the sweep will" in caplog.text
    # The broker is back: the sweep (eager here, as without a broker) enqueues and settles them.
    assert settlement_sweep(now=run.started_at + timedelta(hours=1)) == 2
    assert SettlementRun.objects.get(pk=run.pk).status == "completed"


@pytest.mark.django_db
def test_probes_answer_a_load_balancer_that_asks_by_address_over_http(settings, client):
    settings.ALLOWED_HOSTS = ["pay.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    for path in ("/healthz", "/readyz"):
        response = client.get(path, HTTP_HOST="10.0.3.7:8000")
        assert response.status_code == 200, (path, response.content)
        assert response["X-Request-ID"]
    assert client.get("/api/v1/plans", HTTP_HOST="10.0.3.7:8000").status_code == 400
    assert client.get("/api/v1/plans", HTTP_HOST="pay.example.com").status_code == 301
