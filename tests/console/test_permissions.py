"""The operators' groups hold exactly what their job needs (DESIGN.md §8): a reviewer cannot touch
settlement or fee tables, finance cannot approve campaigns, and nobody — superusers included — can
edit a ledger posting or a plan's money from the admin."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from campaigns.models import Campaign
from installments.ledger_models import LedgerAccount, LedgerEntry, LedgerPosting
from installments.models import FeeTable, SettlementRun, Statement
from installments.plan_models import Plan, PlanInstallment
from tests.console.conftest import D1

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("merchants.migrations.0003_operator_groups")
EVERYONE = ["reviewer", "finance", "admin", None]  # None: a superuser


def perms(group: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=group).permissions.select_related("content_type")
    }


def test_the_migration_made_the_three_groups_with_exactly_their_permissions():
    for name, wanted in MIGRATION.OPERATOR_GROUPS.items():
        assert perms(name) == set(wanted), name
    writes_on_books = {
        f"installments.{action}_{model}"
        for action in ("add", "change", "delete")
        for model in (
            "plan",
            "planinstallment",
            "planline",
            "refund",
            "ledgerentry",
            "ledgerposting",
            "ledgeraccount",
            "statement",
            "statementline",
        )
    }
    for name in MIGRATION.OPERATOR_GROUPS:
        assert not perms(name) & writes_on_books, name
    assert not {p for p in perms("reviewer") if "fee" in p or "settlement" in p or "platform" in p}
    assert "campaigns.change_campaign" not in perms("finance")


def test_running_the_migration_again_resets_a_group_to_exactly_its_permissions():
    from django.apps import apps
    from django.contrib.auth.models import Permission

    Group.objects.get(name="reviewer").permissions.add(
        Permission.objects.get(codename="add_settlementrun")
    )
    MIGRATION.operator_groups_create(apps, None)
    assert perms("reviewer") == set(MIGRATION.OPERATOR_GROUPS["reviewer"])


@pytest.mark.parametrize(
    "url",
    [
        "/admin/installments/settlementrun/",
        "/admin/installments/settlementrun/add/",
        "/admin/installments/settlementrun/reconcile/",
        "/admin/installments/statement/",
        "/admin/installments/feetable/",
        "/admin/installments/feetable/add/",
        "/admin/installments/platformsettings/",
        "/admin/installments/merchantfeeoverride/",
        "/admin/installments/plan/",
        "/admin/installments/ledgerposting/",
        "/admin/django_celery_beat/periodictask/",
    ],
)
def test_a_reviewer_cannot_reach_settlement_pricing_or_the_books(url, client_for):
    assert client_for("reviewer").get(url).status_code == 403


def test_a_reviewer_cannot_start_a_run_or_add_a_fee_table(world, client_for):
    client = client_for("reviewer")
    runs, tables = SettlementRun.objects.count(), FeeTable.objects.count()
    response = client.post(
        "/admin/installments/settlementrun/add/", {"business_date": D1.isoformat()}
    )
    assert response.status_code == 403
    response = client.post(
        "/admin/installments/feetable/add/",
        {"effective_from_0": "2099-01-01", "effective_from_1": "00:00:00", "note": "x"},
    )
    assert response.status_code == 403
    run = SettlementRun.objects.first()
    response = client.post(
        "/admin/installments/settlementrun/",
        {"action": "rerun", "_selected_action": [run.pk]},
    )
    assert response.status_code == 403
    table = FeeTable.objects.first()
    assert client.get(f"/admin/installments/feetable/{table.pk}/preview/").status_code == 403
    assert (SettlementRun.objects.count(), FeeTable.objects.count()) == (runs, tables)


def test_a_reviewer_reviews_campaigns(world, client_for):
    client = client_for("reviewer")
    page = client.get("/admin/campaigns/campaign/")
    assert page.status_code == 200
    assert b'value="approve"' in page.content
    client.post(
        "/admin/campaigns/campaign/",
        {"action": "approve", "_selected_action": [str(world.submitted.pk)]},
    )
    world.submitted.refresh_from_db()
    assert world.submitted.status == "approved"
    assert world.submitted.events.last().actor_label == "operator op-reviewer"


def test_finance_cannot_approve_or_reject_campaigns(world, client_for):
    client = client_for("finance")
    page = client.get("/admin/campaigns/campaign/")
    assert page.status_code == 200  # finance reads budgets
    assert b'value="approve"' not in page.content
    for action, extra in (("approve", {}), ("reject", {"apply": "1", "reason": "no"})):
        client.post(
            "/admin/campaigns/campaign/",
            {"action": action, "_selected_action": [str(world.submitted.pk)], **extra},
        )
    world.submitted.refresh_from_db()
    assert world.submitted.status == "submitted"
    assert not world.submitted.events.filter(actor_kind="operator").exists()
    response = client.post(
        f"/admin/campaigns/campaign/{world.submitted.pk}/change/", {"status": "approved"}
    )
    assert response.status_code == 403


def test_finance_runs_settlement_and_pricing(world, client_for):
    client = client_for("finance")
    for url in (
        "/admin/installments/settlementrun/",
        "/admin/installments/settlementrun/add/",
        "/admin/installments/feetable/add/",
        "/admin/installments/plan/",
        "/admin/installments/ledgerentry/",
        "/admin/django_celery_beat/periodictask/",
    ):
        assert client.get(url).status_code == 200, url
    response = client.post(
        "/admin/installments/settlementrun/add/", {"business_date": D1.isoformat()}
    )
    assert response.status_code == 302
    assert SettlementRun.objects.filter(requested_by="op-finance").exists()
    # … but not the merchants' status, which is the admin group's.
    assert (
        client.post(
            f"/admin/merchants/merchant/{world.lumen.pk}/change/", {"name": "x"}
        ).status_code
        == 403
    )


def _posting_form(posting: LedgerPosting) -> dict:
    return {
        "entry": posting.entry_id,
        "merchant": posting.merchant_id,
        "account": posting.account_id,
        "amount": posting.amount + 1,
        "currency": posting.currency,
    }


@pytest.mark.parametrize("group", EVERYONE)
def test_nobody_can_edit_add_or_delete_a_ledger_posting_or_entry(group, world, client_for):
    client = client_for(group)
    posting = LedgerPosting.objects.order_by("pk").first()
    entry = posting.entry
    before = list(LedgerPosting.objects.order_by("pk").values_list("pk", "amount"))
    for url, data in (
        (
            reverse("admin:installments_ledgerposting_change", args=[posting.pk]),
            _posting_form(posting),
        ),
        (reverse("admin:installments_ledgerposting_add"), _posting_form(posting)),
        (reverse("admin:installments_ledgerposting_delete", args=[posting.pk]), {"post": "yes"}),
        (reverse("admin:installments_ledgerentry_change", args=[entry.pk]), {"memo": "edited"}),
        (reverse("admin:installments_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}),
        (reverse("admin:installments_ledgeraccount_add"), {"kind": "settled"}),
    ):
        assert client.post(url, data).status_code == 403, (group, url)
    page = client.get(reverse("admin:installments_ledgerposting_change", args=[posting.pk]))
    if group == "reviewer":
        assert page.status_code == 403
    else:
        assert page.status_code == 200
        assert b'name="amount"' not in page.content and b'name="_save"' not in page.content
    assert list(LedgerPosting.objects.order_by("pk").values_list("pk", "amount")) == before
    assert LedgerEntry.objects.filter(memo="edited").count() == 0
    assert LedgerAccount.objects.filter(kind="settled").count() == 2


PLAN_MONEY = [
    "financed_amount",
    "consumer_fee",
    "merchant_subsidy",
    "waived_fee",
    "consumer_fee_full",
    "refunded_amount",
    "order_amount",
    "eligible_amount",
]


@pytest.mark.parametrize("group", EVERYONE)
def test_nobody_can_edit_a_plans_money_or_schedule(group, world, client_for):
    client = client_for(group)
    plan = world.plans[0]
    before = Plan.objects.filter(pk=plan.pk).values(*PLAN_MONEY).get()
    url = reverse("admin:installments_plan_change", args=[plan.pk])
    data = {field: 1 for field in PLAN_MONEY} | {
        "installments-TOTAL_FORMS": "1",
        "installments-INITIAL_FORMS": "0",
        "installments-0-period": "13",
        "installments-0-principal": "1",
        "installments-0-fee": "1",
        "installments-0-due_date": "2027-01-10",
    }
    assert client.post(url, data).status_code == 403
    assert client.post(reverse("admin:installments_plan_add"), data).status_code == 403
    delete = reverse("admin:installments_plan_delete", args=[plan.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    page = client.get(url)
    if group == "reviewer":
        assert page.status_code == 403
    else:
        assert page.status_code == 200
        text = page.content.decode()
        assert 'name="financed_amount"' not in text and 'name="_save"' not in text
        assert "¥5,999.00" in text  # shown formatted…
    assert Plan.objects.filter(pk=plan.pk).values(*PLAN_MONEY).get() == before  # …stored as is
    assert PlanInstallment.objects.filter(plan=plan).count() == 12


@pytest.mark.parametrize("group", ["finance", "admin", None])
def test_statements_and_runs_are_never_edited(group, world, client_for):
    client = client_for(group)
    run = SettlementRun.objects.first()
    url = reverse("admin:installments_settlementrun_change", args=[run.pk])
    assert client.post(url, {"business_date": "2026-01-01"}).status_code == 403
    assert client.get(url).status_code == 200
    statement = Statement.objects.order_by("business_date").first()
    change = reverse("admin:installments_statement_change", args=[statement.pk])
    assert client.post(change, {"net": 1}).status_code == 403
    assert client.get(change).status_code == 200
    assert Statement.objects.get(pk=statement.pk).net == statement.net


def test_only_the_admin_group_freezes_merchants(world, client_for):
    for group in ("reviewer", "finance"):
        client_for(group).post(
            "/admin/merchants/merchant/",
            {
                "action": "freeze",
                "_selected_action": [str(world.lumen.pk)],
                "apply": "1",
                "reason": "x",
            },
        )
        world.lumen.refresh_from_db()
        assert not world.lumen.is_frozen, group
    client_for("admin").post(
        "/admin/merchants/merchant/",
        {
            "action": "freeze",
            "_selected_action": [str(world.lumen.pk)],
            "apply": "1",
            "reason": "Chargeback spike",
        },
    )
    world.lumen.refresh_from_db()
    assert world.lumen.is_frozen


def test_campaigns_stay_read_only_even_for_a_superuser(world, client_for):
    client = client_for(None)
    url = reverse("admin:campaigns_campaign_change", args=[world.submitted.pk])
    assert client.post(url, {"budget_total": 1}).status_code == 403
    assert Campaign.objects.get(pk=world.submitted.pk).budget_total == 50_000_000


@pytest.mark.parametrize(
    ("group", "shown", "hidden"),
    [
        ("reviewer", ["Campaigns", "Merchants"], ["Fee tables", "Settlement runs", "Plans"]),
        (
            "finance",
            ["Fee tables", "Settlement runs", "Plans", "Ledger entries", "Periodic tasks"],
            ["Memberships", "Users"],
        ),
        ("admin", ["Fee tables", "Campaigns", "Memberships", "Users", "Periodic tasks"], []),
    ],
)
def test_each_group_sees_its_part_of_the_console(group, shown, hidden, client_for):
    page = client_for(group).get("/admin/")
    assert page.status_code == 200
    text = page.content.decode()
    for name in shown:
        assert f">{name}<" in text, (group, name)
    for name in hidden:
        assert f">{name}<" not in text, (group, name)
