"""Settlement through real Celery workers on Redis (DESIGN.md §7): a night fanned out to a worker,
two runs of one date at once, and a worker killed (SIGKILL) half-way through a run that is then
retried. Each ends with exactly what one uninterrupted run leaves, and ``reconcile`` passing."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import psycopg
import pytest
import redis
from django.db import close_old_connections, connection

from installments.reconcile import reconcile
from installments.settlement import _LOCK_NAMESPACE, settlement_run_for_date, settlement_sweep
from installments.settlement_models import SettlementBatch, SettlementRun, Statement
from tests.factories import MerchantFactory
from tests.installments.settlement_helpers import PHONE_M, at, commit, live_campaign, snapshot

pytestmark = pytest.mark.django_db(transaction=True)

D1 = date(2026, 11, 10)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker_url(redis_url):
    """A Redis database of its own for these tests' queues, emptied before and after."""
    url = redis_url.rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def celery_app(broker_url):
    """The project's Celery app sending to Redis instead of running tasks in-process."""
    from config.celery_app import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=broker_url, task_always_eager=False)
    _reset_pool(app)
    yield app
    app.conf.update(saved)
    _reset_pool(app)


def _reset_pool(app) -> None:
    """Producers are pooled per app: drop the pool so the next send connects to the new broker."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    kombu.pools.reset()  # kombu keeps producer pools per broker URL, process-wide


def database_url_for_tests() -> str:
    settings = connection.settings_dict
    host = quote(settings["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{settings['USER']}{password}@{host}{port}/{settings['NAME']}"


def start_worker_process(broker_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_BROKER_URL": broker_url,
    }
    return subprocess.Popen(
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
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, *, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        close_old_connections()
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def merchants_with_plans(count: int, plans_each: int = 2) -> list:
    merchants = []
    for i in range(count):
        merchant = MerchantFactory()
        live_campaign(merchant, since=D1 - timedelta(days=5), name=f"Campaign {i}")
        for hour in range(plans_each):
            commit(merchant, at(D1, 8 + hour))
        merchants.append(merchant)
    return sorted(merchants, key=lambda m: m.pk)


def expected_statements(merchants, plans_each: int = 2) -> list:
    return sorted(
        (str(m.pk), D1, "CNY", plans_each, plans_each * PHONE_M, 0, plans_each * PHONE_M)
        for m in merchants
    )


def test_a_night_fanned_out_to_a_worker(celery_app):
    from celery.contrib.testing.worker import start_worker

    merchants = merchants_with_plans(3)
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        queues=["celery", "settlement"],
        shutdown_timeout=30,
    ):
        run = settlement_run_for_date(business_date=D1, batch_size=2)
        wait_for(
            lambda: SettlementRun.objects.get(pk=run.pk).status != "running",
            what="the run to finish",
        )
    run.refresh_from_db()
    assert (run.status, run.merchants_done, run.statements_created) == ("completed", 3, 3)
    assert run.batches.count() == 2 and run.finished_at is not None
    assert snapshot()["statements"] == expected_statements(merchants)
    assert reconcile().ok


def test_two_runs_of_one_date_at_once_leave_what_one_run_leaves():
    merchants = merchants_with_plans(6)
    barrier = threading.Barrier(2)
    errors: list = []

    def run() -> None:
        try:
            barrier.wait()
            settlement_run_for_date(business_date=D1, inline=True, batch_size=2)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    close_old_connections()
    assert errors == []
    state = snapshot()
    assert state["statements"] == expected_statements(merchants)
    assert state["settlements"] == 6
    assert all(day == D1 for _, day in state["marked"])
    assert sum(SettlementRun.objects.values_list("statements_created", flat=True)) == 6
    assert reconcile().ok


def test_a_worker_killed_half_way_and_the_run_retried(broker_url, celery_app):
    merchants = merchants_with_plans(3)
    blocked = merchants[1]
    # Hold the settlement lock of the second merchant: its batch blocks inside its transaction.
    settings = connection.settings_dict
    holder = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        dbname=settings["NAME"],
        password=settings["PASSWORD"] or None,
        autocommit=True,
    )
    holder.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, str(blocked.pk)))
    worker = start_worker_process(broker_url)
    second = None
    try:
        run = settlement_run_for_date(business_date=D1, batch_size=1)
        first, second, _third = run.batches.order_by("position")
        wait_for(
            lambda: SettlementBatch.objects.get(pk=second.pk).status == "running",
            what="the second batch to start",
        )
        assert SettlementBatch.objects.get(pk=first.pk).status == "done"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        holder.close()  # releases the lock
        if worker.poll() is None:
            worker.kill()
    run.refresh_from_db()
    assert run.status == "running" and run.merchants_done == 1
    assert Statement.objects.count() == 1  # the killed batch rolled back whole

    # The retry: the sweep re-enqueues what the lost worker held; a new worker finishes the run.
    worker = start_worker_process(broker_url)
    try:
        assert settlement_sweep(now=run.started_at + timedelta(hours=1)) == 2
        wait_for(
            lambda: SettlementRun.objects.get(pk=run.pk).status != "running",
            timeout=90,
            what="the retried run to finish",
        )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    run.refresh_from_db()
    assert (run.status, run.merchants_done, run.statements_created) == ("completed", 3, 3)
    assert SettlementBatch.objects.get(pk=second.pk).attempts >= 2
    state = snapshot()
    assert state["statements"] == expected_statements(merchants)
    assert state["settlements"] == 3
    assert reconcile().ok
