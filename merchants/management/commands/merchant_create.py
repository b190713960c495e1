from typing import Any

from django.core.management.base import CommandParser

from merchants.cli import JsonCommand
from merchants.services import merchant_create


class Command(JsonCommand):
    help = 'Onboard a merchant (and its owner). Prints {"id": …}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--legal-name", default="")
        parser.add_argument("--currency", default="CNY")
        parser.add_argument("--timezone", default="Asia/Shanghai")
        parser.add_argument("--owner-email", default=None)

    def run(self, **options: Any) -> dict[str, str]:
        merchant = merchant_create(
            name=options["name"],
            legal_name=options["legal_name"],
            currency=options["currency"],
            timezone_name=options["timezone"],
            owner_email=options["owner_email"],
        )
        return {"id": str(merchant.pk)}
