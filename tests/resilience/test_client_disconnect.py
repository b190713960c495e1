"""A client that goes away in the middle of a commit (the issue's failure tests). The commit is held
inside its transaction (a test connection holds the campaign's row lock) while the client hangs up:

- the web process carries on, the plan is committed whole, and the client's retry with the same
  ``Idempotency-Key`` gets that outcome (replayed), never a second plan;
- when the web process itself dies then (SIGKILL), PostgreSQL rolls the transaction back with the
  connection: no half plan, and the retry makes the plan once.

While the first attempt still runs, a retry is told ``409 idempotency_key_in_use``."""

from __future__ import annotations

import json
import socket
import uuid

import psycopg

from tests.resilience.harness import BASKET, TERM, Client, wait_until

_WAITING_ON_LOCK = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND wait_event_type = 'Lock'
   AND query LIKE '%UPDATE campaigns_campaign SET budget_used%'
"""


def _quote_and_body(client: Client, ref: str) -> dict:
    quote = client.request("POST", "/api/v1/quotes", BASKET)
    assert quote.status == 200, quote.raw
    option = next(o for o in quote.body["options"] if o["term"] == TERM)
    assert option["campaign"] is not None
    return {"quote_id": quote.body["quote_id"], "term": TERM, "merchant_order_ref": ref}


def _send_and_hang_up_later(port: int, shop: dict, body: dict, key: str) -> socket.socket:
    data = json.dumps(body).encode()
    head = (
        f"POST /api/v1/plans HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {shop['key']}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.encode() + data)
    return sock


def _plans(product, ref: str) -> list[str]:
    rows = product.sql(
        "SELECT id::text FROM installments_plan WHERE merchant_order_ref = %s", [ref]
    )
    return [row[0] for row in rows]


def _held_commit(product, web, shop: dict, ref: str, *, then) -> tuple[dict, str]:
    """Start a commit, hold it on the campaign's row lock, hang up, run ``then()``, release."""
    client = Client(web.port, key=shop["key"])
    body = _quote_and_body(client, ref)
    key = uuid.uuid4().hex
    with psycopg.connect(product.postgres.url, application_name="resilience test") as holder:
        holder.execute(
            "SELECT 1 FROM campaigns_campaign WHERE id = %s FOR UPDATE", [shop["campaign_id"]]
        )
        sock = _send_and_hang_up_later(web.port, shop, body, key)
        wait_until(
            lambda: product.sql(_WAITING_ON_LOCK)[0][0] == 1,
            timeout=15,
            what="the commit to wait on the campaign's lock",
        )
        sock.close()  # the client is gone while its commit is half-way through its transaction
        then()
        client.close()  # a new connection: the kept one may have been to a process now dead
        retry = client.request("POST", "/api/v1/plans", body, idempotency_key=key)
        assert (retry.status, retry.code) == (409, "idempotency_key_in_use"), retry.raw
        assert _plans(product, ref) == []
        holder.rollback()  # lets the first attempt go on
    client.close()
    return body, key


def _retry_until_done(web, shop: dict, body: dict, key: str):
    client = Client(web.port, key=shop["key"])

    def answered():
        answer = client.request("POST", "/api/v1/plans", body, idempotency_key=key)
        return answer if answer.code != "idempotency_key_in_use" else None

    answer = wait_until(answered, timeout=20, what="the retry to be answered", interval=0.2)
    client.close()
    return answer


def test_the_retry_of_a_commit_whose_client_hung_up_gets_its_outcome(product, web):
    shop = product.seed([{"name": "Hung-up client", "budget_plans": None}])["Hung-up client"]
    body, key = _held_commit(product, web, shop, "hang-up-1", then=lambda: None)

    retried = _retry_until_done(web, shop, body, key)
    assert retried.status == 201, retried.raw
    assert retried.headers.get("idempotent-replayed") == "true"  # the first attempt's outcome
    assert _plans(product, "hang-up-1") == [retried.body["id"]]
    product.check_books()


def test_a_commit_whose_web_process_dies_leaves_no_half_plan_and_the_retry_makes_it(product, web):
    shop = product.seed([{"name": "Dead worker", "budget_plans": None}])["Dead worker"]
    workers = len(web.worker_pids())
    killed: list[int] = []

    def kill_the_web_processes() -> None:
        killed.extend(web.kill_workers())
        wait_until(
            lambda: len(set(web.worker_pids()) - set(killed)) == workers,
            timeout=30,
            what="gunicorn to replace its workers",
        )
        wait_until(lambda: web.get("/healthz").status == 200, timeout=30, what="/healthz")

    body, key = _held_commit(product, web, shop, "dead-worker-1", then=kill_the_web_processes)
    assert killed

    retried = _retry_until_done(web, shop, body, key)
    assert retried.status == 201, retried.raw
    assert "idempotent-replayed" not in retried.headers  # nothing was stored: done afresh
    assert _plans(product, "dead-worker-1") == [retried.body["id"]]
    again = _retry_until_done(web, shop, body, key)
    assert again.headers.get("idempotent-replayed") == "true" and again.raw == retried.raw
    used = product.sql(
        "SELECT budget_used FROM campaigns_campaign WHERE id = %s", [shop["campaign_id"]]
    )
    assert used[0][0] == shop["subsidy"]  # charged once
    product.check_books()
