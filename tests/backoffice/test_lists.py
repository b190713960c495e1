"""The lists: plans (search, filters, live and test apart, pagination, CSV export), statements
(adjustments marked, CSV), campaigns (read-only, with their budget)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignStatus
from installments.settlement import statement_csv_rows
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

REFS = ("Alpha-ORDER-OPEN", "Alpha-ORDER-SETTLED", "Alpha-ORDER-LATE")


def _shown(content: bytes) -> set[str]:
    text = content.decode()
    return {ref for ref in (*REFS, "Alpha-ORDER-TEST") if f">{ref}<" in text}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", set(REFS)),
        ("?q=order-open", {"Alpha-ORDER-OPEN"}),
        ("?q=ALPHA-ORDER", set(REFS)),
        ("?status=active", set(REFS)),
        ("?status=refunded", set()),
        ("?term=12", set(REFS)),
        ("?term=3", set()),
        ("?mode=test", {"Alpha-ORDER-TEST"}),
        ("?mode=test&q=OPEN", set()),
    ],
)
def test_plans_are_searched_and_filtered(world, client_as, query, expected):
    response = client_as(world.users["viewer"]).get(f"/plans/{query}")
    assert response.status_code == 200
    assert _shown(response.content) == expected


def test_plans_are_searched_by_consumer_ref_and_filtered_by_campaign_and_date(world, client_as):
    from installments.plan_models import Plan

    Plan.objects.filter(pk=world.a.plan.pk).update(consumer_ref="CONSUMER-42")
    client = client_as(world.users["viewer"])
    assert _shown(client.get("/plans/?q=consumer-42").content) == {"Alpha-ORDER-OPEN"}
    assert _shown(client.get(f"/plans/?campaign={world.a.campaign.pk}").content) == set(REFS)
    today = timezone.localdate()
    assert _shown(client.get(f"/plans/?created_from={today}").content) == {"Alpha-ORDER-OPEN"}
    yesterday = today - timedelta(days=1)
    shown = _shown(client.get(f"/plans/?created_from={yesterday}&created_to={yesterday}").content)
    assert shown == {"Alpha-ORDER-SETTLED", "Alpha-ORDER-LATE"}


def test_a_bad_filter_value_is_shown_as_an_error(world, client_as):
    response = client_as(world.users["viewer"]).get("/plans/?created_from=yesterday&status=lost")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid date." in html
    assert "Select a valid choice" in html


def test_plans_paginate(world, client_as):
    client = client_as(world.users["viewer"])
    assert "1–" not in client.get("/plans/").content.decode()  # one page: no pager
    assert client.get("/plans/?page=7").status_code == 200


def test_the_csv_export_is_the_filtered_list_in_minor_units(world, client_as):
    client = client_as(world.users["finance"])
    response = client.get("/plans/export/?q=open")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["merchant_order_ref"] for row in rows] == ["Alpha-ORDER-OPEN"]
    (row,) = rows
    plan = world.a.plan
    assert row["id"] == str(plan.pk)
    assert row["financed_amount"] == "599900" and row["merchant_subsidy"] == "44993"
    assert row["test"] == "false" and row["campaign_id"] == str(world.a.campaign.pk)
    assert row["created_at"].endswith("+08:00")
    everything = client.get("/plans/export/")
    assert len(list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))) == 4
    test_rows = b"".join(client.get("/plans/export/?mode=test").streaming_content).decode()
    assert "Alpha-ORDER-TEST" in test_rows and "Alpha-ORDER-OPEN" not in test_rows


def test_the_export_link_keeps_the_filters(world, client_as):
    page = client_as(world.users["viewer"]).get("/plans/?q=open&page=1").content.decode()
    assert 'href="/plans/export/?q=open&amp;mode=live"' in page


def test_the_csv_export_defuses_spreadsheet_formulas(world, client_as):
    from installments.plan_models import Plan

    Plan.objects.filter(pk=world.a.plan.pk).update(consumer_ref="=HYPERLINK(1)")
    body = b"".join(client_as(world.users["viewer"]).get("/plans/export/").streaming_content)
    assert b"'=HYPERLINK(1)" in body


def test_statements_list_their_lines_and_mark_adjustments(world, client_as):
    client = client_as(world.users["finance"])
    listing = client.get("/settlements/").content.decode()
    assert listing.count('/csv/"') == 2  # yesterday's and today's
    assert "adjustments" in listing
    page = client.get(f"/settlements/{world.a.statement.pk}/").content.decode()
    assert "Adjustment" in page and "Alpha phones free" in page
    assert f'href="/settlements/{world.a.statement.pk}/csv/"' in page
    response = client.get(f"/settlements/{world.a.statement.pk}/csv/")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [[str(v) for v in row] for row in statement_csv_rows(world.a.statement)]
    assert rows[-1][3] == "TOTAL" and "true" in [row[-1] for row in rows[1:-1]]


def test_statements_filter_by_date_and_adjustments(world, client_as):
    client = client_as(world.users["finance"])
    today = world.a.statement.business_date
    only_today = client.get(f"/settlements/?date_from={today}").content.decode()
    assert only_today.count('/csv/"') == 1
    with_adjustments = client.get("/settlements/?adjustments=true").content.decode()
    assert f"/settlements/{world.a.statement.pk}/" in with_adjustments
    assert with_adjustments.count('/csv/"') == 1


def test_campaigns_list_and_detail_are_read_only(world, client_as):
    merchant = world.a.merchant
    CampaignFactory(merchant=merchant, name="Draft idea")
    CampaignFactory(
        merchant=merchant,
        name="Turned down",
        status=CampaignStatus.REJECTED,
        rejection_reason="Budget too large",
    )
    client = client_as(world.users["viewer"])
    listing = client.get("/campaigns/").content.decode()
    assert "Draft idea" in listing and "Turned down" in listing and "Alpha phones free" in listing
    assert "Live" in listing and "Draft" in listing and "Rejected" in listing
    assert "Draft idea" not in client.get("/campaigns/?status=approved").content.decode()
    assert "Draft idea" in client.get("/campaigns/?q=idea").content.decode()
    assert "/campaigns/new/" not in listing  # the studio comes with issue 9

    detail = client.get(f"/campaigns/{world.a.campaign.pk}/").content.decode()
    assert "12 months" in detail and "100%" in detail  # the offer
    assert "All products" in detail and "All stores" in detail
    assert "View plans" in detail  # results
    assert "<form" not in detail.split("<main", 1)[1].split("</main>", 1)[0]

    rejected = merchant.campaigns.get(name="Turned down")
    assert "Budget too large" in client.get(f"/campaigns/{rejected.pk}/").content.decode()
