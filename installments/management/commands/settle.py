import uuid
from datetime import date
from typing import Any

from django.core.management.base import CommandParser

from installments.settlement import settlement_run_for_date, settlement_run_totals
from merchants.cli import JsonCommand
from merchants.errors import DomainError
from merchants.models import Merchant


class Command(JsonCommand):
    help = (
        "Settle a business date (any date up to today) for every merchant, or one, in this process. "
        "Prints the run's summary as JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", required=True, help="the business date, YYYY-MM-DD")
        parser.add_argument("--merchant", help="only this merchant")

    def run(self, **options: Any) -> dict[str, Any]:
        try:
            business_date = date.fromisoformat(options["date"])
        except ValueError as exc:
            raise DomainError.validation("date", "A date as YYYY-MM-DD.") from exc
        merchant_id = None
        if options["merchant"]:
            try:
                merchant_id = uuid.UUID(options["merchant"])
            except ValueError as exc:
                raise DomainError("not_found", f"No merchant {options['merchant']!r}.") from exc
            if not Merchant.objects.filter(pk=merchant_id).exists():
                raise DomainError("not_found", f"No merchant {options['merchant']!r}.")
        run = settlement_run_for_date(
            business_date=business_date,
            merchant_id=merchant_id,
            requested_by="settle command",
            inline=True,
        )
        return settlement_run_summary(run)


def settlement_run_summary(run: Any) -> dict[str, Any]:
    return {
        "run": run.pk,
        "business_date": run.business_date.isoformat(),
        "merchant": str(run.merchant_id) if run.merchant_id else None,
        "status": run.status,
        "merchants": run.merchants_total,
        "merchants_done": run.merchants_done,
        "merchants_failed": run.merchants_failed,
        "statements": run.statements_created,
        # Per currency: a run for every merchant settles several, never to be added together.
        "totals": [
            {key: row[key] for key in ("currency", "statements", "charges", "reversals", "net")}
            for row in settlement_run_totals(run=run)
        ],
        "duration_seconds": run.duration.total_seconds() if run.duration else None,
    }
