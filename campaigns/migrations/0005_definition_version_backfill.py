"""Give every merchant that already had campaigns when the definition stamp arrived (0004) a stamp
of its own: without one, matching cannot cache that merchant's definitions."""

from django.db import migrations

BACKFILL = r"""
INSERT INTO campaigns_campaigndefinitionversion (merchant_id, version)
SELECT merchant_id, nextval('campaigns_definition_version_seq')
  FROM (SELECT DISTINCT merchant_id FROM campaigns_campaign) AS merchants
ON CONFLICT (merchant_id) DO NOTHING;
"""


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_definition_version_trigger")]

    operations = [migrations.RunSQL(BACKFILL, migrations.RunSQL.noop)]
