"""Drop copy (ADR 027): a drop-copy session may be linked to every account, present and future.

Revision ID: 0020_drop_copy
Revises: 0017_provisioning
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_drop_copy"
down_revision: str | Sequence[str] | None = "0019_self_trade_prevention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("fix_sessions", sa.Column("all_accounts", sa.Boolean, nullable=False,
                                            server_default=sa.text("false")))


def downgrade() -> None:
    op.drop_column("fix_sessions", "all_accounts")
