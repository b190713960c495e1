"""Real Celery workers on a private Redis (the suite's own stays untouched), on the test database.

- A worker killed with SIGKILL in the middle of a settlement batch, after the batch wrote its
  statements, lines and ledger entries and before it committed: the batch rolls back whole, Redis
  gives its unacknowledged message to the next worker (``acks_late``; the visibility timeout is
  set to 1 s here, where production's 2 hours leave it to the settlement sweep, tested in
  ``tests/installments/test_settlement_worker.py``), the retry finishes the run, and nothing
  doubles, even when every batch is delivered once more.
- The request id of the HTTP request that started a task is in the task message's headers and on
  the worker's log lines of that task (JSON lines)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis
from django.db import close_old_connections, connection
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign
from installments.reconcile import reconcile
from installments.settlement import settlement_run_for_date
from installments.settlement_models import SettlementBatch, SettlementRun, Statement
from installments.tasks import settle_batch_task
from tests.factories import CampaignFactory, MerchantFactory
from tests.installments.settlement_helpers import snapshot
from tests.installments.test_settlement_worker import (
    D1,
    _reset_pool,
    database_url_for_tests,
    expected_statements,
    merchants_with_plans,
)
from tests.resilience.harness import BASKET, ROOT, TERM, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_url(private_redis):
    """Database 2 of the private Redis (the product of the other failure tests uses 0 and 1)."""
    url = private_redis.url(2)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def celery_app(broker_url):
    from config.celery_app import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    _reset_pool(app)
    yield app
    app.conf.update(saved)
    _reset_pool(app)


class Worker:
    """``celery worker -P solo`` on the broker, logging JSON lines to ``log``."""

    def __init__(self, broker_url: str, log: Path) -> None:
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url_for_tests(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT": "1",
            "LOG_FORMAT": "json",
        }
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "celery,settlement",
                    "-P",
                    "solo",
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                    "--loglevel=INFO",
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def records(self) -> list[dict]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found


def _test_database() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"],
        dbname=s["NAME"],
        password=s["PASSWORD"] or None,
        application_name="resilience test",
    )


_WAITING_ON_THE_RUN = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND wait_event_type = 'Lock'
   AND query LIKE 'UPDATE "installments_settlementrun"%'
"""


def _run_status(run_id: int) -> str:
    close_old_connections()
    return SettlementRun.objects.get(pk=run_id).status


def _queues_empty(broker_url: str) -> bool:
    client = redis.Redis.from_url(broker_url)
    return (
        client.llen("settlement") == 0
        and client.llen("celery") == 0
        and client.hlen("unacked") == 0
    )


def test_a_worker_killed_mid_batch_and_the_redelivered_batch_finishes_the_run(
    broker_url, celery_app, tmp_path
):
    merchants = merchants_with_plans(3)
    run = settlement_run_for_date(business_date=D1, batch_size=1)  # 3 batches on the queue
    worker = Worker(broker_url, tmp_path / "worker-1.log")
    try:
        with _test_database() as holder, _test_database() as watcher:
            # The run's row is the last thing a batch's transaction updates: holding it stops
            # the first batch after its statements, lines and ledger entries are written.
            holder.execute(
                "SELECT 1 FROM installments_settlementrun WHERE id = %s FOR UPDATE", [run.pk]
            )
            watcher.autocommit = True
            wait_until(
                lambda: watcher.execute(_WAITING_ON_THE_RUN).fetchone()[0] == 1,
                timeout=60,
                what="a batch to wait on the run's row",
            )
            worker.kill()
            holder.rollback()
    finally:
        worker.stop()
    close_old_connections()
    assert Statement.objects.count() == 0  # the killed batch rolled back whole
    statuses = sorted(SettlementBatch.objects.filter(run=run).values_list("status", flat=True))
    assert statuses == ["pending", "pending", "running"]

    worker = Worker(broker_url, tmp_path / "worker-2.log")
    try:
        wait_until(lambda: _run_status(run.pk) != "running", timeout=90, what="the run to finish")
        finished = snapshot()
        # Every batch delivered once more (a duplicate message, an eager sweep): nothing moves.
        for batch in SettlementBatch.objects.filter(run=run):
            settle_batch_task.delay(batch.pk)
        wait_until(lambda: _queues_empty(broker_url), timeout=60, what="the queues to drain")
    finally:
        worker.stop()
    close_old_connections()
    run.refresh_from_db()
    assert (run.status, run.merchants_done, run.statements_created) == ("completed", 3, 3)
    attempts = sorted(SettlementBatch.objects.filter(run=run).values_list("attempts", flat=True))
    assert attempts == [1, 1, 2]  # the killed batch ran twice, and the duplicates not at all
    assert snapshot() == finished
    assert finished["statements"] == expected_statements(merchants)
    assert finished["settlements"] == 3
    assert all(day == D1 for _, day in finished["marked"])
    assert reconcile().ok
    assert not Campaign.objects.filter(budget_used__gt=F("budget_total")).exists()


def test_the_request_id_of_a_checkout_reaches_the_task_it_started(
    broker_url, celery_app, api_client_for, tmp_path
):
    merchant = MerchantFactory()
    now = timezone.now()
    CampaignFactory(
        merchant=merchant,
        status="approved",
        starts_at=now - timezone.timedelta(days=1),
        ends_at=now + timezone.timedelta(days=30),
        budget_total=10**8,
        alert_threshold_bp=1,  # the first checkout crosses it: an alert e-mail task
    )
    client = api_client_for(merchant)
    quote = client.post("/api/v1/quotes", BASKET, format="json")
    assert quote.status_code == 200
    committed = client.post(
        "/api/v1/plans",
        {"quote_id": quote.json()["quote_id"], "term": TERM, "merchant_order_ref": "rid-1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="rid-1",
        HTTP_X_REQUEST_ID="checkout-7f3a9c",
    )
    assert committed.status_code == 201
    assert committed["X-Request-ID"] == "checkout-7f3a9c"

    queued = redis.Redis.from_url(broker_url).lrange("celery", 0, -1)
    assert [json.loads(m)["headers"]["request_id"] for m in queued] == ["checkout-7f3a9c"]

    worker = Worker(broker_url, tmp_path / "worker.log")
    try:
        emailed = wait_until(
            lambda: [r for r in worker.records() if r.get("logger") == "campaigns.alerts"],
            timeout=60,
            what="the alert task's log line",
            interval=0.2,
        )
    finally:
        worker.stop()
    (line,) = emailed
    assert line["request_id"] == "checkout-7f3a9c"
    assert line["task"] == "campaigns.alert_email" and line["task_id"]
    assert "e-mailed" in line["message"]
    # Celery's own lines about the task carry it too, and lines of no task carry none.
    traced = [r for r in worker.records() if r.get("task_id") == line["task_id"]]
    assert all(r.get("request_id") == "checkout-7f3a9c" for r in traced)
    assert not any(r.get("request_id") for r in worker.records() if "task_id" not in r)
