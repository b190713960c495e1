"""Indexes for the operators' console: plans and statements of every merchant, newest first, and
plans by order or consumer reference.

Built CONCURRENTLY, so adding them to a live plans table never blocks checkouts."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0005_definition_version_backfill"),
        ("installments", "0007_ledger_statement_marking"),
        ("merchants", "0002_merchant_status_events"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="plan",
            index=models.Index(fields=["-created_at", "id"], name="plan_created_idx"),
        ),
        AddIndexConcurrently(
            model_name="plan",
            index=models.Index(fields=["merchant_order_ref"], name="plan_order_ref_idx"),
        ),
        AddIndexConcurrently(
            model_name="plan",
            index=models.Index(
                condition=models.Q(("consumer_ref", ""), _negated=True),
                fields=["consumer_ref"],
                name="plan_consumer_ref_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="statement",
            index=models.Index(fields=["-business_date", "merchant"], name="statement_date_idx"),
        ),
    ]
