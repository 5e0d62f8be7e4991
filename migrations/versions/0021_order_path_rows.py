"""Order path rows (ADR 031): drop ``ix_orders_working``, which duplicated ``ix_orders_open``.

``ix_orders_working`` (order_id WHERE open) had the same predicate as ``ix_orders_open`` (account_id WHERE
open): a lookup by order id uses the primary key, a scan of every open order either partial index. Each new
order wrote an entry into both.

(A statement-level balance check of the journal, replacing the deferred per-line trigger, was measured and
not taken: ``bench/journal_trigger.py``, ADR 031.)

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


def upgrade() -> None:
    op.drop_index("ix_orders_working", "orders")


def downgrade() -> None:
    op.create_index("ix_orders_working", "orders", ["order_id"], postgresql_where=sa.text(OPEN))
