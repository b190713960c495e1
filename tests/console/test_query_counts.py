"""Every page of the operators' console runs a bounded number of queries, whatever the rows it
shows: every changelist and every change page of every registered model admin (ours, Django's
users and groups, django-celery-beat's periodic tasks), with several rows in each list, so an N+1
would break the bound."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

# Measured: changelists 4–9 queries, change pages 5–14 (the merchant's, with its four inlines).
# Session, user, the page's own queries and its (capped) count; with the world's
# rows an N+1 adds at least one query per row on top of this.
MAX_CHANGELIST_QUERIES = 10
MAX_CHANGE_PAGE_QUERIES = 16

REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name) for model in admin.site._registry
)


def test_the_console_registers_what_operators_need():
    assert {
        ("merchants", "merchant"),
        ("campaigns", "campaign"),
        ("installments", "feetable"),
        ("installments", "platformsettings"),
        ("installments", "merchantfeeoverride"),
        ("installments", "plan"),
        ("installments", "ledgerentry"),
        ("installments", "ledgerposting"),
        ("installments", "ledgeraccount"),
        ("installments", "settlementrun"),
        ("installments", "statement"),
        ("django_celery_beat", "periodictask"),
    } <= set(REGISTERED)


@pytest.mark.parametrize(
    ("app_label", "model_name"), REGISTERED, ids=[f"{a}.{m}" for a, m in REGISTERED]
)
def test_changelist_and_change_page_queries_are_bounded(
    app_label, model_name, world, client_for, django_assert_max_num_queries
):
    client = client_for(None)  # a superuser sees every page
    model = next(m for m in admin.site._registry if m._meta.model_name == model_name)
    rows = model._default_manager.all()
    assert rows.count() >= 2, f"the world has too few {model_name} rows to show an N+1"
    changelist = reverse(f"admin:{app_label}_{model_name}_changelist")
    client.get(changelist)  # warm caches (content types, templates) out of the count
    with django_assert_max_num_queries(MAX_CHANGELIST_QUERIES):
        response = client.get(changelist)
    assert response.status_code == 200

    change = reverse(f"admin:{app_label}_{model_name}_change", args=[rows.first().pk])
    with django_assert_max_num_queries(MAX_CHANGE_PAGE_QUERIES):
        response = client.get(change)
    assert response.status_code == 200
