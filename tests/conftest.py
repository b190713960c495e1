import pytest


def _restore_default_pricing() -> None:
    """A transactional test ends with a flush, which also empties the rows that data migrations
    wrote (the default fee table and settings, the operators' groups); put them back so test
    order never matters."""
    import importlib

    from django.apps import apps

    from installments.models import PlatformSettings

    if not PlatformSettings.objects.exists():
        migration = importlib.import_module("installments.migrations.0002_default_pricing")
        migration.create_defaults(apps, None)
    from django.contrib.auth.models import Group

    if not Group.objects.filter(name="reviewer").exists():
        migration = importlib.import_module("merchants.migrations.0003_operator_groups")
        migration.operator_groups_create(apps, None)


@pytest.fixture(autouse=True)
def _books_reconcile(request):
    """Run ``reconcile`` after every test that touches the database (DESIGN.md §7): whatever a test
    did through the services, the ledger, budgets, plans and statements must still agree.

    The database fixture is requested from here so that this check runs before it rolls back or
    flushes. Tests that corrupt the books on purpose say so with ``@pytest.mark.no_reconcile``."""
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        "transactional_db" in names or "live_server" in names
    )
    uses_db = marker is not None or "db" in names or transactional
    if uses_db:
        request.getfixturevalue("transactional_db" if transactional else "db")
        _restore_default_pricing()
    yield
    if not uses_db or request.node.get_closest_marker("no_reconcile"):
        return
    from installments.reconcile import reconcile

    report = reconcile()
    if not report.ok:
        pytest.fail(f"reconcile found mismatches: {report.mismatches}", pytrace=False)


@pytest.fixture
def merchant(db):
    from tests.factories import MerchantFactory

    return MerchantFactory()


@pytest.fixture
def api_client_for(db):
    """``api_client_for(merchant, mode="live")`` → a DRF client authenticated with a new key."""
    from rest_framework.test import APIClient

    from merchants.services import api_key_create

    def make(merchant, mode: str = "live") -> APIClient:
        issued = api_key_create(merchant=merchant, mode=mode)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        client.api_key = issued.api_key
        return client

    return make


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis for tests that need a real broker. Fails loudly (never skips) when none answers."""
    import os

    import redis

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"No Redis answers at {url} ({exc}). Start one with "
            "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no` "
            "or set REDIS_URL.",
            pytrace=False,
        )
    return url
