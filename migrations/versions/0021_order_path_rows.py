"""Order path rows (ADR 031): the journal's balance is checked once per statement, not once per line; a line's
account must be its entry's (which makes the line's own foreign key to accounts redundant); the orders
index that duplicated ``ix_orders_open`` is dropped.

* ``journal_entry_balanced`` was a deferred per-row constraint trigger: each line queued a trigger event
  and at commit ran a plpgsql call plus a query summing its entry's lines, i.e. each entry was summed
  once per line (2.5 times per fill). The statement-level triggers below see the statement's new lines as
  a transition table and check every entry they touch with ONE query, at the end of the statement. Every
  writer inserts an entry's lines in one statement (``ledger.journal_store.ENTRY_CTE``,
  ``ledger.posting_batch.write_ctes``), so an entry balances at the end of the statement that wrote it;
  a transaction can no longer leave an entry unbalanced between two statements (stricter than before).
* The same query refuses a line whose account is not its entry's; with the entry's foreign key to
  accounts, that implies the line's, so ``fk_journal_lines_account_id_accounts`` (a referential check
  per line) goes.
* ``ix_orders_working`` (order_id WHERE open) had the same predicate as ``ix_orders_open`` (account_id
  WHERE open): a lookup by order id uses the primary key, a scan of every open order either partial index.

Revision ID: 0021_order_path_rows
Revises: 0020_drop_copy
Create Date: 2026-12-02 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_order_path_rows"
down_revision: str | Sequence[str] | None = "0020_drop_copy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')"

# One query per statement: the entries the statement's lines touch, summed over ALL their lines (not only the
# new ones), and any line whose account differs from its entry's.
STATEMENT_FUNCTION = """
CREATE FUNCTION ledger_check_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT e.entry_id, t.debit, t.credit, m.line_account INTO bad
      FROM (SELECT DISTINCT entry_id FROM new_lines) n
      JOIN journal_entries e ON e.entry_id = n.entry_id
      CROSS JOIN LATERAL (SELECT coalesce(sum(l.debit), 0) AS debit, coalesce(sum(l.credit), 0) AS credit
                            FROM journal_lines l WHERE l.entry_id = n.entry_id) t
      LEFT JOIN LATERAL (SELECT l.account_id AS line_account FROM new_lines l
                          WHERE l.entry_id = n.entry_id AND l.account_id <> e.account_id LIMIT 1) m ON true
     WHERE t.debit <> t.credit OR m.line_account IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        IF bad.line_account IS NOT NULL THEN
            RAISE EXCEPTION 'journal entry % has a line of another account (%)', bad.entry_id, bad.line_account
                USING ERRCODE = 'check_violation';
        END IF;
        RAISE EXCEPTION 'journal entry % does not balance: debits % <> credits %',
            bad.entry_id, bad.debit, bad.credit USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
"""

ROW_FUNCTION = """
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


def upgrade() -> None:
    op.execute("DROP TRIGGER journal_entry_balanced ON journal_lines")
    op.execute("DROP FUNCTION ledger_check_entry_balanced()")
    op.execute(STATEMENT_FUNCTION)
    # a trigger with a transition table has one event: one for INSERT, one for UPDATE (refused anyway by
    # journal_lines_append_only, kept so the check does not depend on that trigger)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER journal_entries_balanced_{event.lower()} AFTER {event} ON journal_lines "
            "REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_entries_balanced()"
        )
    op.drop_constraint("fk_journal_lines_account_id_accounts", "journal_lines", type_="foreignkey")
    op.drop_index("ix_orders_working", "orders")


def downgrade() -> None:
    op.create_index("ix_orders_working", "orders", ["order_id"], postgresql_where=sa.text(OPEN))
    op.create_foreign_key("fk_journal_lines_account_id_accounts", "journal_lines", "accounts",
                          ["account_id"], ["account_id"])
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER journal_entries_balanced_{event} ON journal_lines")
    op.execute("DROP FUNCTION ledger_check_entries_balanced()")
    op.execute(ROW_FUNCTION)
    op.execute(
        "CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT OR UPDATE ON journal_lines "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()"
    )
