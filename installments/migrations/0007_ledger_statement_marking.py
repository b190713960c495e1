"""Settlement marks each charge and reversal with the statement that settled it (DESIGN.md §7).

The ledger stays append-only: an UPDATE of an entry is refused unless its only change is
``statement_id`` going from empty to set, so an event is settled once and never moved. The
application's role needs UPDATE on that one column (README)."""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION ledger_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.statement_id IS NULL AND NEW.statement_id IS NOT NULL
       AND OLD.kind <> 'settlement'
       AND (to_jsonb(NEW) - 'statement_id') = (to_jsonb(OLD) - 'statement_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'post a reversing entry instead; only settlement may mark an event once';
END $$;

DROP TRIGGER ledger_entry_append_only ON installments_ledgerentry;
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON installments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_refuse_change();
"""

BACKWARD = r"""
DROP TRIGGER ledger_entry_append_only ON installments_ledgerentry;
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON installments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
DROP FUNCTION ledger_entry_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("installments", "0006_settlement")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
