"""Operators' commands: JSON on stdout; bad input exits non-zero with one line and writes nothing."""

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from merchants.models import ApiKey, Membership, Merchant
from merchants.selectors import api_key_authenticate

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_merchant_create_prints_id():
    result = run("merchant_create", "--name", "Lumen", "--owner-email", "o@lumen.example")
    merchant = Merchant.objects.get(pk=result["id"])
    assert merchant.name == "Lumen"
    assert Membership.objects.get(merchant=merchant).role == "owner"


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "X", "--currency", "ZZZ"],
        ["--name", "X", "--timezone", "Nowhere/Land"],
        ["--name", "X", "--owner-email", "nope"],
    ],
)
def test_merchant_create_bad_input(args):
    with pytest.raises(CommandError) as exc:
        call_command("merchant_create", *args, stdout=StringIO())
    assert "\n" not in str(exc.value)
    assert Merchant.objects.count() == 0


def test_apikey_create():
    merchant_id = run("merchant_create", "--name", "Lumen")["id"]
    result = run("apikey_create", "--merchant", merchant_id, "--mode", "test")
    assert result["key"].startswith(result["prefix"])
    assert result["prefix"].startswith("ipk_test_")
    assert api_key_authenticate(raw_key=result["key"]).merchant_id == Merchant.objects.get().pk


@pytest.mark.parametrize("merchant_id", ["not-a-uuid", "00000000-0000-4000-8000-000000000000"])
def test_apikey_create_unknown_merchant(merchant_id):
    with pytest.raises(CommandError) as exc:
        call_command("apikey_create", "--merchant", merchant_id, stdout=StringIO())
    assert "not_found" in str(exc.value)
    assert ApiKey.objects.count() == 0


def test_demo_data_is_idempotent_and_ends_with_logins():
    first = run("demo_data")
    counts = (Merchant.objects.count(), Membership.objects.count())
    second = run("demo_data")
    assert first == second
    assert (Merchant.objects.count(), Membership.objects.count()) == counts
    assert set(first) == {"owner", "operator", "merchant_id"}
    assert set(first["owner"]) == {"username", "password"}
    merchant = Merchant.objects.get(pk=first["merchant_id"])
    assert merchant.stores.count() >= 3
    statuses = set(merchant.campaigns.values_list("status", flat=True))
    assert statuses == {
        "draft",
        "submitted",
        "approved",
        "rejected",
        "paused",
        "ended",
        "cancelled",
    }


def test_command_exit_code_is_nonzero_on_bad_input():
    """Through the real entry point: a one-line message on stderr, exit status 1."""
    proc = subprocess.run(
        [sys.executable, "manage.py", "merchant_create", "--name", "X", "--currency", "ZZZ"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "currency" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["merchant_create", "--name", "X", "--legal-name", "L" * 300],
        ["merchant_create", "--name", "x\x00y"],
    ],
)
def test_overlong_or_nul_text_is_a_one_line_error(args):
    with pytest.raises(CommandError) as exc:
        call_command(*args, stdout=StringIO())
    assert "validation_error" in str(exc.value)
    assert Merchant.objects.count() == 0


def test_apikey_name_too_long():
    merchant_id = run("merchant_create", "--name", "Lumen")["id"]
    with pytest.raises(CommandError, match="validation_error"):
        call_command(
            "apikey_create", "--merchant", merchant_id, "--name", "n" * 100, stdout=StringIO()
        )
    assert ApiKey.objects.count() == 0
