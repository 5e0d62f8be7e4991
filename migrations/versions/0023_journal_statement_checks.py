"""Journal checks per statement (ADR 042): the balance check once per statement, one foreign key per line.

* **Balance.** The deferred per-line constraint trigger ``journal_entry_balanced`` (migration 0002) ran at
  COMMIT once per line, each call a plpgsql call and a query summing the entry's lines (2.5 a fill). It is
  replaced by statement-level triggers with transition tables: after every INSERT, UPDATE or DELETE on
  ``journal_lines``, the lines the statement added minus the lines it removed must balance per entry. Every
  entry balanced before the statement (induction: the only writes are these statements, each checked, and
  existing entries were balanced at every commit under the old trigger), so it balances after it: the journal
  balances at every statement's end, a stronger property than at every commit. The check reads only the
  transition tables (no index lookup per line). An entry's lines must now arrive in one statement; both
  writers (``ledger.journal_store.ENTRY_CTE``, ``ledger.posting_batch.write_ctes``) already do so.
* **One foreign key per line.** ``journal_lines`` had two: ``account_id`` -> accounts and ``entry_id`` ->
  journal_entries, each a referential check per inserted line. One composite key ``(account_id, entry_id)`` ->
  ``journal_entries (account_id, entry_id)`` implies both (an entry's account is itself a foreign key) and
  adds that a line's account is its entry's, as both writers already write it. Its target is
  ``ix_journal_entries_account``, the same columns made UNIQUE (``entry_id`` alone is the primary key).

Revision ID: 0023_journal_statement_checks
Revises: 0022_outbox_watermark
Create Date: 2026-12-03 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023_journal_statement_checks"
down_revision: str | Sequence[str] | None = "0022_outbox_watermark"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The change per entry of one statement: + the lines it added (new_lines), - the lines it removed (old_lines).
# The UPDATE and DELETE triggers exist for completeness: the append-only triggers refuse those statements
# before any row changes.
BALANCED_FUNCTION = """
CREATE FUNCTION ledger_check_statement_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT entry_id, sum(debit) AS debit, sum(credit) AS credit INTO bad FROM new_lines
         GROUP BY entry_id HAVING sum(debit) <> sum(credit) LIMIT 1;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT entry_id, -sum(debit) AS debit, -sum(credit) AS credit INTO bad FROM old_lines
         GROUP BY entry_id HAVING sum(debit) <> sum(credit) LIMIT 1;
    ELSE
        SELECT entry_id, sum(d) AS debit, sum(c) AS credit INTO bad
          FROM (SELECT entry_id, debit AS d, credit AS c FROM new_lines
                UNION ALL SELECT entry_id, -debit, -credit FROM old_lines) AS change
         GROUP BY entry_id HAVING sum(d) <> sum(c) LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: this statement changes its debits by % and its credits by %',
            bad.entry_id, bad.debit, bad.credit USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

# migration 0002's deferred per-line check, restored by the downgrade
OLD_BALANCED_FUNCTION = """
CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total_debit numeric;
    total_credit numeric;
BEGIN
    SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0) INTO total_debit, total_credit
      FROM journal_lines WHERE entry_id = NEW.entry_id;
    IF total_debit <> total_credit THEN
        RAISE EXCEPTION 'journal entry % does not balance: debits % <> credits %',
            NEW.entry_id, total_debit, total_credit USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

_TRIGGERS = (
    ("journal_lines_balanced_insert", "INSERT", "NEW TABLE AS new_lines"),
    ("journal_lines_balanced_update", "UPDATE", "OLD TABLE AS old_lines NEW TABLE AS new_lines"),
    ("journal_lines_balanced_delete", "DELETE", "OLD TABLE AS old_lines"),
)


def upgrade() -> None:
    op.execute(BALANCED_FUNCTION)
    for name, event, tables in _TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON journal_lines REFERENCING {tables} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_statement_balanced()")
    op.execute("DROP TRIGGER journal_entry_balanced ON journal_lines")
    op.execute("DROP FUNCTION ledger_check_entry_balanced()")
    op.execute("DROP INDEX ix_journal_entries_account")
    op.execute("CREATE UNIQUE INDEX ix_journal_entries_account ON journal_entries (account_id, entry_id)")
    op.execute("ALTER TABLE journal_lines DROP CONSTRAINT fk_journal_lines_account_id_accounts, "
               "DROP CONSTRAINT fk_journal_lines_entry_id_journal_entries, "
               "ADD CONSTRAINT fk_journal_lines_entry FOREIGN KEY (account_id, entry_id) "
               "REFERENCES journal_entries (account_id, entry_id)")


def downgrade() -> None:
    op.execute("ALTER TABLE journal_lines DROP CONSTRAINT fk_journal_lines_entry, "
               "ADD CONSTRAINT fk_journal_lines_account_id_accounts FOREIGN KEY (account_id) "
               "REFERENCES accounts (account_id), "
               "ADD CONSTRAINT fk_journal_lines_entry_id_journal_entries FOREIGN KEY (entry_id) "
               "REFERENCES journal_entries (entry_id)")
    op.execute("DROP INDEX ix_journal_entries_account")
    op.execute("CREATE INDEX ix_journal_entries_account ON journal_entries (account_id, entry_id)")
    op.execute(OLD_BALANCED_FUNCTION)
    op.execute("CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT OR UPDATE ON journal_lines "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()")
    for name, _event, _tables in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON journal_lines")
    op.execute("DROP FUNCTION ledger_check_statement_balanced()")
