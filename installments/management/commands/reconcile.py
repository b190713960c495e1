import uuid
from typing import Any

from django.core.management.base import CommandError, CommandParser

from installments.reconcile import reconcile
from merchants.cli import JsonCommand
from merchants.errors import DomainError
from merchants.models import Merchant


class Command(JsonCommand):
    help = (
        'Check that the ledger, budgets, plans and statements agree. Prints {"ok", "checks", '
        '"mismatches"} and exits 1 when something disagrees.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", help="only this merchant's books")
        parser.add_argument("--limit", type=int, default=100, help="mismatches shown per check")

    def run(self, **options: Any) -> dict[str, Any]:
        merchant_id = None
        if options["merchant"]:
            try:
                merchant_id = uuid.UUID(options["merchant"])
            except ValueError as exc:
                raise DomainError("not_found", f"No merchant {options['merchant']!r}.") from exc
            if not Merchant.objects.filter(pk=merchant_id).exists():
                raise DomainError("not_found", f"No merchant {options['merchant']!r}.")
        if options["limit"] < 1:
            raise DomainError.validation("limit", "At least 1.")
        report = reconcile(merchant_id=merchant_id, limit=options["limit"])
        self.books_agree = report.ok
        return report.as_dict()

    def handle(self, *args: Any, **options: Any) -> None:
        self.books_agree = True
        super().handle(*args, **options)
        if not self.books_agree:
            raise CommandError("reconcile found mismatches (see the JSON above)", returncode=1)
