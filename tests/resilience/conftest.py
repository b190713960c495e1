"""One private PostgreSQL and one private Redis for the failure tests (never the suite's own
services), the product migrated on them, and gunicorn serving it as in production."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.resilience.harness import _TMP, PrivatePostgres, PrivateRedis, Product


@pytest.fixture(scope="package")
def private_redis():
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.close()


@pytest.fixture(scope="package")
def private_postgres():
    postgres = PrivatePostgres()
    postgres.start()
    yield postgres
    postgres.close()


@pytest.fixture(scope="package")
def product(private_postgres, private_redis):
    with tempfile.TemporaryDirectory(prefix="res-logs-", dir=_TMP) as folder:
        product = Product(postgres=private_postgres, redis=private_redis, folder=Path(folder))
        product.manage("migrate", "--noinput")
        yield product


@pytest.fixture(scope="package")
def web(product):
    web = product.web(workers=2, threads=4)
    yield web
    web.stop()
