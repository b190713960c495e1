"""Move the merchant's ``CampaignDefinitionVersion`` whenever its campaign definitions or offers change, in
the same transaction, so matching may cache definitions per process (issue 5, DESIGN.md §11).

Only the columns that define a campaign fire the campaign trigger: reservations (``budget_used``)
and alert bookkeeping do not, so the checkout path never writes the stamp."""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = r"""
CREATE SEQUENCE campaigns_definition_version_seq;

CREATE FUNCTION campaigns_definition_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        owner := OLD.merchant_id;
    ELSE
        owner := NEW.merchant_id;
    END IF;
    INSERT INTO campaigns_campaigndefinitionversion (merchant_id, version)
    VALUES (owner, nextval('campaigns_definition_version_seq'))
    ON CONFLICT (merchant_id) DO UPDATE SET version = EXCLUDED.version;
    IF TG_OP = 'UPDATE' AND OLD.merchant_id <> NEW.merchant_id THEN
        INSERT INTO campaigns_campaigndefinitionversion (merchant_id, version)
        VALUES (OLD.merchant_id, nextval('campaigns_definition_version_seq'))
        ON CONFLICT (merchant_id) DO UPDATE SET version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER campaign_definition_changed
AFTER INSERT OR DELETE OR UPDATE OF
    merchant_id, name, status, starts_at, ends_at, all_products, categories, skus, exclude_skus,
    stores, channels, min_amount, max_amount, daily_cap, per_consumer_limit,
    stacks_with_government_subsidy
ON campaigns_campaign FOR EACH ROW EXECUTE FUNCTION campaigns_definition_changed();

CREATE TRIGGER offer_definition_changed
AFTER INSERT OR DELETE OR UPDATE ON campaigns_offer
FOR EACH ROW EXECUTE FUNCTION campaigns_definition_changed();
"""

BACKWARD = r"""
DROP TRIGGER offer_definition_changed ON campaigns_offer;
DROP TRIGGER campaign_definition_changed ON campaigns_campaign;
DROP FUNCTION campaigns_definition_changed();
DROP SEQUENCE campaigns_definition_version_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_budget_alerts")]

    operations = [
        migrations.CreateModel(
            name="CampaignDefinitionVersion",
            fields=[
                (
                    "merchant",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="merchants.merchant",
                    ),
                ),
                ("version", models.BigIntegerField()),
            ],
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
