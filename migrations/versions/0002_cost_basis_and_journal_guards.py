"""Holdings carry their cost basis; journal entries are unique per reference, balanced and append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Checked at COMMIT (deferred), once every line of the entry is in: Σ debits = Σ credits per entry.
BALANCED_FUNCTION = """
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

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.add_column("holdings", sa.Column("cost_basis", sa.Numeric(20, 4), server_default="0", nullable=False))
    op.create_check_constraint(op.f("ck_holdings_cost_basis_non_negative"), "holdings", "cost_basis >= 0")
    op.create_unique_constraint(
        "uq_journal_entries_reference", "journal_entries", ["account_id", "kind", "reference"]
    )
    op.execute(BALANCED_FUNCTION)
    op.execute(
        "CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT OR UPDATE ON journal_lines "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()"
    )
    op.execute(APPEND_ONLY_FUNCTION)
    for table in ("journal_entries", "journal_lines"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )


def downgrade() -> None:
    for table in ("journal_entries", "journal_lines"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION ledger_refuse_change()")
    op.execute("DROP TRIGGER journal_entry_balanced ON journal_lines")
    op.execute("DROP FUNCTION ledger_check_entry_balanced()")
    op.drop_constraint("uq_journal_entries_reference", "journal_entries", type_="unique")
    op.drop_constraint(op.f("ck_holdings_cost_basis_non_negative"), "holdings", type_="check")
    op.drop_column("holdings", "cost_basis")
