import uuid
from typing import Any

from django.core.management.base import CommandParser

from merchants.cli import JsonCommand
from merchants.errors import DomainError
from merchants.models import Merchant
from merchants.services import api_key_create


class Command(JsonCommand):
    help = 'Issue an API key for a merchant. Prints {"key", "prefix"}; the key is shown only once.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="the merchant's id")
        parser.add_argument("--mode", choices=["test", "live"], default="live")
        parser.add_argument("--name", default="")

    def run(self, **options: Any) -> dict[str, str]:
        try:
            merchant = Merchant.objects.get(pk=uuid.UUID(options["merchant"]))
        except (ValueError, Merchant.DoesNotExist) as exc:
            raise DomainError("not_found", f"No merchant with id {options['merchant']!r}.") from exc
        issued = api_key_create(merchant=merchant, mode=options["mode"], name=options["name"])
        return {"key": issued.raw_key, "prefix": issued.api_key.prefix, "mode": options["mode"]}
