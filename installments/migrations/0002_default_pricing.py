"""The default fee table of DESIGN.md §3.1 and the default platform settings, in force from the start."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)

# term, consumer rate, merchant rate, minimum and maximum financed amount (fen)
DEFAULT_RATES = [
    (3, Decimal("0.023"), Decimal("0.018"), 10_000, 30_000_000),
    (6, Decimal("0.045"), Decimal("0.045"), 10_000, 30_000_000),
    (12, Decimal("0.075"), Decimal("0.075"), 10_000, 30_000_000),
]


def create_defaults(apps, schema_editor):
    FeeTable = apps.get_model("installments", "FeeTable")
    FeeRate = apps.get_model("installments", "FeeRate")
    PlatformSettings = apps.get_model("installments", "PlatformSettings")
    table, created = FeeTable.objects.get_or_create(
        effective_from=BEGINNING, defaults={"note": "Default table (DESIGN.md §3.1)"}
    )
    if created:
        FeeRate.objects.bulk_create(
            FeeRate(
                fee_table=table,
                term=term,
                consumer_rate=consumer,
                merchant_rate=merchant,
                min_amount=low,
                max_amount=high,
            )
            for term, consumer, merchant, low, high in DEFAULT_RATES
        )
    PlatformSettings.objects.get_or_create(
        effective_from=BEGINNING,
        defaults={
            "statement_day": 1,
            "due_day": 10,
            "rounding": "half_up",
            "auto_approval_threshold": 1_000_000,
            "note": "Defaults (DESIGN.md §3.1, §4)",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("installments", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
