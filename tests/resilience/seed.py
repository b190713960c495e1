"""Shops for the failure tests, in the database of the environment it runs in (the harness runs it
with the product's production environment):

    python -m tests.resilience.seed '[{"name": "A", "budget_plans": null}, ...]'

Each shop is a merchant with a live API key and one live campaign that pays the whole fee of the
12-term option of ``harness.BASKET``: without limit (``budget_plans`` null) or with a budget for that
many plans and half of one more, so that it runs out partway. Prints one JSON line: name →
``{"merchant_id", "key", "campaign_id", "subsidy"}``."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from campaigns.matching import Basket, offers_match  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from merchants.services import api_key_create, merchant_create  # noqa: E402
from tests.factories import CampaignFactory  # noqa: E402
from tests.resilience.harness import BASKET, TERM  # noqa: E402


def shop_create(*, name: str, budget_plans: int | None) -> dict[str, object]:
    merchant = merchant_create(name=name)
    key = api_key_create(merchant=merchant, mode="live").raw_key
    now = timezone.now()
    campaign = CampaignFactory(
        merchant=merchant,
        name=f"{name}: phones free",
        status="approved",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        budget_total=10**12,
    )
    basket = Basket(amount=BASKET["amount"], channel=BASKET["channel"])
    match = offers_match(merchant=merchant, basket=basket).for_term(TERM)
    assert match is not None and match.offer is not None, "the campaign does not match"
    subsidy = match.price.merchant_subsidy
    if budget_plans is not None:
        Campaign.objects.filter(pk=campaign.pk).update(
            budget_total=subsidy * budget_plans + subsidy // 2
        )
    return {
        "merchant_id": str(merchant.pk),
        "key": key,
        "campaign_id": str(campaign.pk),
        "subsidy": subsidy,
    }


def main() -> None:
    shops = json.loads(sys.argv[1])
    made = {shop["name"]: shop_create(**shop) for shop in shops}
    print(json.dumps(made))


if __name__ == "__main__":
    main()
