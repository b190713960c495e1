"""Whatever an operator types in a list's search or filter, or a preview's amount, the console
answers with a page (an empty list, a message), never a 500."""

from __future__ import annotations

import pytest

from installments.models import FeeTable

pytestmark = pytest.mark.django_db

ODD = ["%C2%B2", "%D9%A3", "%EF%BC%91", "%00", "99999999999999999999999", "-1", "1.5", "%20"]
LISTS = [
    "/admin/installments/plan/?term={}",
    "/admin/installments/plan/?q={}",
    "/admin/installments/ledgerentry/?q={}",
    "/admin/installments/ledgerposting/?q={}",
    "/admin/installments/ledgeraccount/?q={}",
    "/admin/installments/settlementrun/?q={}",
    "/admin/installments/statement/?q={}",
    "/admin/merchants/merchant/?q={}",
    "/admin/merchants/store/?q={}",
    "/admin/merchants/membership/?q={}",
    "/admin/campaigns/campaign/?q={}",
]


@pytest.mark.parametrize("url", LISTS)
def test_odd_searches_and_filters_never_give_a_500(url, world, client_for):
    client = client_for(None)
    client.raise_request_exception = False
    for value in ODD:
        response = client.get(url.format(value))
        assert response.status_code in (200, 302), (url.format(value), response.status_code)


def test_a_superscript_digit_is_not_a_number(world, client_for):
    """ "²".isdigit() is true but int("²") raises: such a term matches nothing (or is ignored)."""
    client = client_for(None)
    client.raise_request_exception = False
    plans = client.get("/admin/installments/plan/?term=%C2%B2")
    assert plans.status_code == 200
    entries = client.get("/admin/installments/ledgerentry/?q=%C2%B2")
    assert entries.status_code == 200 and "0 ledger entries" in entries.content.decode()
    postings = client.get("/admin/installments/ledgerposting/?q=%C2%B2")
    assert postings.status_code == 200 and "0 ledger postings" in postings.content.decode()


@pytest.mark.parametrize(
    "amount", ["sNaN", "NaN", "-sNaN", "Infinity", "-Inf", "1E+999999999", "1E-999999999", "abc"]
)
def test_the_fee_table_preview_refuses_odd_amounts_with_a_message(amount, world, client_for):
    client = client_for("finance")
    client.raise_request_exception = False
    table = FeeTable.objects.first()
    response = client.get(f"/admin/installments/feetable/{table.pk}/preview/", {"amount": amount})
    assert response.status_code == 200
    text = response.content.decode()
    assert "showing the default" in text and "¥5,999.00" in text
