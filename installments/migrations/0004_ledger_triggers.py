"""PostgreSQL keeps the ledger balanced and append-only, whatever code writes to it (DESIGN.md §7)."""

from django.db import migrations

BALANCE_AND_IMMUTABILITY = r"""
-- At commit, every entry touched in the transaction has at least two postings, each on an account
-- of the entry's merchant, in the entry's currency, and they sum to zero.
CREATE FUNCTION ledger_entry_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target_entry bigint;
    legs integer;
    total numeric;
    foreign_legs integer;
BEGIN
    IF TG_TABLE_NAME = 'installments_ledgerentry' THEN
        target_entry := NEW.id;
    ELSE
        target_entry := NEW.entry_id;
    END IF;
    SELECT count(*), coalesce(sum(p.amount), 0),
           count(*) FILTER (WHERE a.merchant_id <> e.merchant_id OR p.merchant_id <> e.merchant_id
                                  OR a.currency <> e.currency OR p.currency <> e.currency)
      INTO legs, total, foreign_legs
      FROM installments_ledgerentry e
      LEFT JOIN installments_ledgerposting p ON p.entry_id = e.id
      LEFT JOIN installments_ledgeraccount a ON a.id = p.account_id
     WHERE e.id = target_entry;
    IF legs < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger entry % is not balanced (% postings summing to %)',
            target_entry, legs, total USING ERRCODE = 'check_violation';
    END IF;
    IF foreign_legs > 0 THEN
        RAISE EXCEPTION 'ledger entry % posts to another merchant''s account or currency', target_entry
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON installments_ledgerentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_posting_balanced
    AFTER INSERT ON installments_ledgerposting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_check_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', HINT = 'post a reversing entry instead';
END $$;

CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON installments_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON installments_ledgerposting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
-- TRUNCATE is a table owner's operation (test database resets use it); the application's role in
-- production is granted INSERT and SELECT on these tables only.
"""

DROP = r"""
DROP TRIGGER IF EXISTS ledger_posting_append_only ON installments_ledgerposting;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON installments_ledgerentry;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON installments_ledgerposting;
DROP TRIGGER IF EXISTS ledger_entry_balanced ON installments_ledgerentry;
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP FUNCTION IF EXISTS ledger_entry_check_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("installments", "0003_ledger")]

    operations = [migrations.RunSQL(BALANCE_AND_IMMUTABILITY, DROP)]
