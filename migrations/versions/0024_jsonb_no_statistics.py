"""No planner statistics on the order path's jsonb documents: ``executions.fix_fields``, ``outbox.payload``.

Autovacuum's ANALYZE of these two append-heavy tables spent about half its time sorting and comparing the
sampled jsonb documents (``compute_scalar_stats`` on whole FIX-field / event documents; ~2.4 % of the
server's CPU under the order path, ADR 042's profile). Nothing uses those statistics: no query compares a
whole document (filters read keys, ``->>``/``?|``, which PostgreSQL estimates with defaults, never from
column statistics) and the one null test (``fix_fields IS NOT NULL`` in ``links.resend_unconfirmed``) is
nearly always true, which is the default estimate. ``SET STATISTICS 0`` makes ANALYZE skip the two columns;
the tables' other columns are analysed as before. No constraint or index changes.

Revision ID: 0024_jsonb_no_statistics
Revises: 0023_journal_statement_checks
Create Date: 2026-12-03 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024_jsonb_no_statistics"
down_revision: str | Sequence[str] | None = "0023_journal_statement_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("executions", "fix_fields"), ("outbox", "payload"))


def upgrade() -> None:
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS 0")


def downgrade() -> None:
    # -1: back to default_statistics_target, as every column was before
    for table, column in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS -1")
