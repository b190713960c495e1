"""What operators do in the console, end to end through the admin's pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from installments.models import FeeTable, MerchantFeeOverride, SettlementRun
from installments.plan_models import Plan
from merchants.admin_base import EstimatedCountPaginator
from merchants.models import Merchant, MerchantStatusEvent
from tests.console.conftest import D1

pytestmark = pytest.mark.django_db
MERCHANTS = "/admin/merchants/merchant/"


def _freeze(client, merchant, *, action="freeze", reason=None):
    data = {"action": action, "_selected_action": [str(merchant.pk)]}
    if reason is not None:
        data |= {"apply": "1", "reason": reason}
    return client.post(MERCHANTS, data, follow=True)


def test_freeze_and_unfreeze_need_a_reason_and_are_recorded(world, client_for):
    client = client_for("admin")
    form = _freeze(client, world.lumen)
    assert b'name="reason"' in form.content  # the action asks for the reason first
    _freeze(client, world.lumen, reason="   ")
    world.lumen.refresh_from_db()
    assert not world.lumen.is_frozen

    _freeze(client, world.lumen, reason="Chargeback spike under review")
    world.lumen.refresh_from_db()
    assert (world.lumen.status, world.lumen.frozen_reason) == (
        "frozen",
        "Chargeback spike under review",
    )
    again = _freeze(client, world.lumen, reason="twice")
    assert b"already frozen" in again.content

    _freeze(client, world.lumen, action="unfreeze", reason="Chargebacks explained")
    world.lumen.refresh_from_db()
    assert not world.lumen.is_frozen
    events = list(
        MerchantStatusEvent.objects.filter(merchant=world.lumen)
        .order_by("created_at", "id")
        .values_list("action", "reason", "actor__username")
    )
    assert events == [
        ("frozen", "Chargeback spike under review", "op-admin"),
        ("unfrozen", "Chargebacks explained", "op-admin"),
    ]
    page = client.get(reverse("admin:merchants_merchant_change", args=[world.lumen.pk]))
    assert "Chargebacks explained" in page.content.decode()  # the history is on its page


@pytest.mark.parametrize("how", ["name", "part of the name", "id", "store code", "code case"])
def test_merchant_search_by_name_id_and_store_code(how, world, client_for):
    term = {
        "name": "Lumen Electronics",
        "part of the name": "lumen",
        "id": str(world.lumen.pk),
        "store code": "LUM-SH-01",
        "code case": "lum-sh-01",
    }[how]
    page = client_for("reviewer").get(MERCHANTS, {"q": term})
    text = page.content.decode()
    assert "Lumen Electronics" in text and "Harbour Books" not in text


def test_onboarding_a_merchant_goes_through_the_service(client_for):
    client = client_for("admin")
    response = client.post(
        reverse("admin:merchants_merchant_add"),
        {"name": "  New Shop ", "legal_name": "", "currency": "CNY", "timezone": "Asia/Shanghai"},
    )
    assert response.status_code == 302
    assert Merchant.objects.get(name="New Shop").currency == "CNY"
    bad = client.post(
        reverse("admin:merchants_merchant_add"),
        {"name": "Nowhere", "currency": "CNY", "timezone": "Mars/Olympus"},
    )
    assert b"Unknown time zone" in bad.content


def _version(when) -> dict:
    local = timezone.localtime(when)
    return {
        "effective_from_0": local.strftime("%Y-%m-%d"),
        "effective_from_1": local.strftime("%H:%M:%S"),
        "note": "2027 rates",
        "rates-TOTAL_FORMS": "1",
        "rates-INITIAL_FORMS": "0",
        "rates-MIN_NUM_FORMS": "1",
        "rates-MAX_NUM_FORMS": "1000",
        "rates-0-term": "24",
        "rates-0-consumer_rate": "0.12",
        "rates-0-merchant_rate": "0.1",
        "rates-0-min_amount": "10000",
        "rates-0-max_amount": "30000000",
    }


def test_fee_table_versions_validate_their_start_and_rates(client_for):
    client = client_for("finance")
    add = reverse("admin:installments_feetable_add")
    past = client.post(add, _version(timezone.now() - timedelta(days=1)))
    assert b"cannot start in the past" in past.content
    data = _version(timezone.now() + timedelta(days=7)) | {"rates-0-consumer_rate": "1.5"}
    assert client.post(add, data).status_code == 200  # the model's rate validation
    assert client.post(add, _version(timezone.now() + timedelta(days=7))).status_code == 302
    table = FeeTable.objects.get(note="2027 rates")
    assert table.created_by.username == "op-finance"
    assert list(table.rates.values_list("term", flat=True)) == [24]
    # The default table is in force: it is history, read-only.
    in_force = FeeTable.objects.order_by("effective_from").first()
    url = reverse("admin:installments_feetable_change", args=[in_force.pk])
    assert client.post(url, _version(timezone.now() + timedelta(days=9))).status_code == 403


def test_an_override_window_must_be_ordered(world, client_for):
    start = timezone.localtime(timezone.now() + timedelta(days=10))
    end = start - timedelta(days=1)
    response = client_for("finance").post(
        reverse("admin:installments_merchantfeeoverride_add"),
        {
            "merchant": str(world.lumen.pk),
            "term": "6",
            "consumer_rate": "0.04",
            "merchant_rate": "0.04",
            "min_amount": "10000",
            "max_amount": "30000000",
            "effective_from_0": start.strftime("%Y-%m-%d"),
            "effective_from_1": start.strftime("%H:%M:%S"),
            "effective_until_0": end.strftime("%Y-%m-%d"),
            "effective_until_1": end.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200  # the model's check constraint, as a form error
    assert b"feeoverride_window_order" in response.content or b"errornote" in response.content
    assert not MerchantFeeOverride.objects.filter(term=6, merchant=world.lumen).exists()


def test_the_fee_table_preview_prices_every_term_with_the_calculator(client_for):
    client = client_for("finance")
    table = FeeTable.objects.order_by("effective_from").first()  # the defaults of §3.1
    change = client.get(reverse("admin:installments_feetable_change", args=[table.pk]))
    text = change.content.decode()
    # ¥5,999.00 on 12 terms: F = 44993 fen, APR 13.57 % (§3.2, second example), and the merchant
    # pays M = 44993 to make it free (first example).
    assert "¥449.93" in text and "13.57 %" in text
    preview = client.get(
        reverse("admin:installments_feetable_preview", args=[table.pk]), {"amount": "1000.00"}
    )
    text = preview.content.decode()
    # ¥1,000.00 on 3 terms: consumer fee 2300 fen, merchant cost 1800 fen (third example).
    assert "¥23.00" in text and "¥18.00" in text
    assert "outside" not in text
    tiny = client.get(
        reverse("admin:installments_feetable_preview", args=[table.pk]), {"amount": "50"}
    )
    assert "sample outside: not offered" in tiny.content.decode()
    bad = client.get(
        reverse("admin:installments_feetable_preview", args=[table.pk]), {"amount": "1.001"}
    )
    assert "not a positive amount in fen" in bad.content.decode()


def test_settlement_runs_show_status_progress_totals_and_rerun(world, client_for):
    client = client_for("finance")
    page = client.get("/admin/installments/settlementrun/")
    text = page.content.decode()
    assert "Completed" in text and "2 / 2 (100 %)" in text
    run = SettlementRun.objects.filter(merchant__isnull=True).get()
    # Runs made inside a longer transaction still end after they start (wall clock, not now()).
    assert all(r.duration.total_seconds() >= 0 for r in SettlementRun.objects.all())
    detail = client.get(reverse("admin:installments_settlementrun_change", args=[run.pk]))
    text = detail.content.decode()
    assert "CNY: 2 statements" in text and "Failed batches" in text

    client.post(
        "/admin/installments/settlementrun/",
        {"action": "rerun_all_merchants", "_selected_action": [run.pk]},
    )
    form = client.post(
        "/admin/installments/settlementrun/",
        {"action": "rerun_one_merchant", "_selected_action": [run.pk]},
    )
    assert b'name="merchant"' in form.content
    client.post(
        "/admin/installments/settlementrun/",
        {
            "action": "rerun_one_merchant",
            "_selected_action": [run.pk],
            "apply": "1",
            "merchant": str(world.other.pk),
        },
    )
    reruns = SettlementRun.objects.filter(requested_by="op-finance").order_by("pk")
    assert [(r.business_date, r.merchant_id, r.status) for r in reruns] == [
        (D1, None, "completed"),
        (D1, world.other.pk, "completed"),
    ]
    assert all(r.statements_created == 0 for r in reruns)  # D1 was settled: nothing new


def test_reconcile_as_an_action_and_from_the_runs_page(world, client_for):
    client = client_for("finance")
    result = client.post(
        MERCHANTS, {"action": "reconcile_books", "_selected_action": [str(world.lumen.pk)]}
    )
    text = result.content.decode()
    assert "the books agree" in text and "campaign_budget_used" in text
    assert client.get("/admin/installments/settlementrun/reconcile/").status_code == 200
    everything = client.post("/admin/installments/settlementrun/reconcile/")
    assert "All merchants: the books agree" in everything.content.decode()


@pytest.mark.no_reconcile
def test_reconcile_shows_what_disagrees(world, client_for):
    from campaigns.models import Campaign

    campaign = Campaign.objects.filter(merchant=world.lumen, status="approved").first()
    Campaign.objects.filter(pk=campaign.pk).update(budget_used=campaign.budget_used + 1)
    run = SettlementRun.objects.filter(merchant__isnull=True).get()
    result = client_for("admin").post(
        "/admin/installments/settlementrun/",
        {"action": "reconcile_books", "_selected_action": [run.pk]},
    )
    text = result.content.decode()
    assert "MISMATCHES FOUND" in text and str(campaign.pk) in text


def test_plans_list_formats_money_and_searches_exactly(world, client_for):
    client = client_for("finance")
    plan = world.plans[0]
    page = client.get("/admin/installments/plan/")
    text = page.content.decode()
    assert "¥5,999.00" in text and "¥449.93" in text
    for term in (plan.merchant_order_ref, str(plan.pk), str(world.lumen.pk)):
        found = client.get("/admin/installments/plan/", {"q": term}).content.decode()
        assert plan.merchant_order_ref in found, term
    other = client.get("/admin/installments/plan/", {"q": str(world.other.pk)}).content.decode()
    assert plan.merchant_order_ref not in other
    filtered = client.get("/admin/installments/plan/", {"term": "12", "status": "active"})
    assert filtered.status_code == 200 and plan.merchant_order_ref in filtered.content.decode()
    ledger = client.get("/admin/installments/ledgerentry/", {"q": str(plan.pk)})
    assert "¥449.93" in ledger.content.decode()  # the plan's charge, formatted


def test_big_lists_count_up_to_a_cap_then_estimate(world, client_for, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 3)
    assert Plan.objects.count() > 3
    page = client_for("finance").get("/admin/installments/plan/")
    assert page.status_code == 200
    assert page.context["cl"].paginator.estimated
    assert "about" in page.content.decode()
    monkeypatch.setattr(EstimatedCountPaginator, "cap", 1000)
    exact = client_for(None).get("/admin/installments/plan/", {"q": str(world.other.pk)})
    assert not exact.context["cl"].paginator.estimated
    assert exact.context["cl"].result_count == 3


def test_the_review_queue_lists_submitted_campaigns_and_raises_first(world, client_for):
    from campaigns.models import Campaign
    from tests.factories import CampaignFactory

    CampaignFactory(merchant=world.lumen, name="Newest draft")
    raised = Campaign.objects.filter(merchant=world.other, status="approved").get()
    Campaign.objects.filter(pk=raised.pk).update(pending_budget_total=raised.budget_total + 1)
    text = client_for("reviewer").get("/admin/campaigns/campaign/").content.decode()
    assert text.index("Spring phones") < text.index(raised.name) < text.index("Newest draft")
    assert "¥" in text and "%" in text  # budget, used and usage


def test_lists_search_merchant_ids_exactly(world, client_for):
    from installments.models import Statement

    client = client_for("admin")
    lumen = str(world.lumen.pk)
    page = client.get("/admin/installments/statement/", {"q": lumen})
    assert {s.merchant_id for s in page.context["cl"].result_list} == {world.lumen.pk}
    assert page.context["cl"].result_count == Statement.objects.filter(merchant=world.lumen).count()
    assert (
        client.get("/admin/installments/statement/", {"q": "Lumen"}).context["cl"].result_count == 0
    )
    stores = client.get("/admin/merchants/store/", {"q": lumen}).context["cl"].result_list
    assert {s.merchant_id for s in stores} == {world.lumen.pk} and len(stores) == 2
    by_code = client.get("/admin/merchants/store/", {"q": "lum-sh-01"}).context["cl"]
    assert [s.code for s in by_code.result_list] == ["LUM-SH-01"]
    keys = client.get("/admin/merchants/apikey/", {"q": lumen}).context["cl"]
    assert keys.result_count == 2
