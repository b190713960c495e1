import uuid
from typing import Any

from django.core.management.base import CommandParser

from campaigns.models import Campaign
from campaigns.services import Actor, campaign_approve, campaign_reject
from merchants.cli import JsonCommand
from merchants.errors import DomainError


class Command(JsonCommand):
    help = 'Approve or reject a submitted campaign. Prints {"id", "status"}.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="the campaign's id")
        decision = parser.add_mutually_exclusive_group(required=True)
        decision.add_argument("--approve", action="store_true")
        decision.add_argument("--reject", action="store_true")
        parser.add_argument("--reason", default="")

    def run(self, **options: Any) -> dict[str, str]:
        try:
            campaign = Campaign.objects.get(pk=uuid.UUID(options["campaign"]))
        except (ValueError, Campaign.DoesNotExist) as exc:
            raise DomainError("not_found", f"No campaign with id {options['campaign']!r}.") from exc
        actor = Actor.operator(None, label="operator (command line)")
        if options["approve"]:
            campaign = campaign_approve(campaign=campaign, actor=actor)
        else:
            campaign = campaign_reject(campaign=campaign, actor=actor, reason=options["reason"])
        return {"id": str(campaign.pk), "status": campaign.status}
