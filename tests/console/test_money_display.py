"""Money in the settlement runs list: a run for every merchant settles several currencies, and
its totals are shown per currency, with the currency's code when more than one is present (CNY
and JPY are both ¥), never added together."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest

from campaigns.matching import Basket
from installments.models import SettlementRun
from installments.plans import plan_commit
from installments.quotes import quote_create
from installments.settlement import settlement_run_for_date
from tests.factories import MerchantFactory
from tests.installments.settlement_helpers import at, live_campaign

pytestmark = pytest.mark.django_db
D1 = date(2026, 11, 10)


def buy(merchant, currency: str, amount: int) -> None:
    live_campaign(merchant, since=D1 - timedelta(days=5))
    quote = quote_create(
        merchant=merchant, test=False, currency=currency, basket=Basket(amount=amount), now=at(D1)
    )
    plan_commit(
        merchant=merchant,
        test=False,
        quote_id=quote.quote_id,
        term=12,
        merchant_order_ref=f"o-{uuid.uuid4()}",
        now=at(D1),
    )


def shown(html: str, column: str) -> list[str]:
    """The text of each row's cell of ``column`` in the changelist (tags stripped)."""
    cells = re.findall(rf'<td class="field-{column}[^"]*">(.*?)</td>', html, re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def test_a_runs_totals_are_shown_per_currency_never_added_together(client_for):
    cny = MerchantFactory(name="CNY shop")
    jpy = MerchantFactory(name="JPY shop", currency="JPY", timezone="Asia/Tokyo")
    buy(cny, "CNY", 599_900)  # ¥5,999.00: the merchant's subsidy is 44,993 fen
    buy(jpy, "JPY", 100_000)  # ¥100,000: 7,500 yen
    settlement_run_for_date(business_date=D1, requested_by="tests", inline=True)
    settlement_run_for_date(business_date=D1, merchant_id=cny.pk, requested_by="t", inline=True)

    html = client_for("finance").get("/admin/installments/settlementrun/").content.decode()

    # Newest first: the one-merchant re-run (nothing left to settle), then the run for everyone.
    assert shown(html, "charges_shown") == ["—", "CNY 449.93 · JPY 7,500"]
    assert shown(html, "net_shown") == ["—", "CNY 449.93 · JPY 7,500"]
    assert shown(html, "reversals_shown") == ["—", "CNY 0.00 · JPY 0"]
    assert "¥524.93" not in html and "52,493" not in html
    assert 'title="44993 minor units"' in html and 'title="7500 minor units"' in html


def test_a_run_of_one_currency_shows_its_symbol(client_for):
    cny = MerchantFactory(name="CNY shop")
    buy(cny, "CNY", 599_900)
    run = settlement_run_for_date(business_date=D1, requested_by="tests", inline=True)
    assert SettlementRun.objects.get(pk=run.pk).charges == 44_993

    html = client_for("finance").get("/admin/installments/settlementrun/").content.decode()

    assert shown(html, "charges_shown") == ["¥449.93"]


def test_the_settle_command_totals_a_run_per_currency(capsys):
    import json

    from django.core.management import call_command

    buy(MerchantFactory(name="CNY shop"), "CNY", 599_900)
    buy(MerchantFactory(name="JPY shop", currency="JPY", timezone="Asia/Tokyo"), "JPY", 100_000)
    call_command("settle", "--date", D1.isoformat())
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"] == [
        {"currency": "CNY", "statements": 1, "charges": 44_993, "reversals": 0, "net": 44_993},
        {"currency": "JPY", "statements": 1, "charges": 7_500, "reversals": 0, "net": 7_500},
    ]
    assert "net" not in summary and "charges" not in summary
