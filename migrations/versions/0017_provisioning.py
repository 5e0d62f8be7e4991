"""Provisioning without restarts: a FIX session's kind (client or drop-copy), who changed it last, and the
state the gateway publishes for every session it serves (logged on, sequence numbers, last message).

Revision ID: 0017_provisioning
Revises: 0003_order_path
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_provisioning"
down_revision: str | Sequence[str] | None = "0008_halts_margin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("fix_sessions", sa.Column("kind", sa.String(16), nullable=False, server_default="client"))
    op.add_column("fix_sessions", sa.Column("updated_at", TS, nullable=False, server_default=sa.text("now()")))
    op.create_check_constraint("ck_fix_sessions_kind", "fix_sessions", "kind IN ('client', 'drop-copy')")
    # written by the gateway every few seconds; read by `brokerage sessions list` and /v1/admin/sessions
    op.create_table(
        "fix_session_state",
        sa.Column("sender_comp_id", sa.String(64), primary_key=True),
        sa.Column("gateway", sa.Text, nullable=False),  # host:pid of the gateway serving it
        sa.Column("backend_port", sa.Integer, nullable=False),  # its QuickFIX acceptor (loopback)
        sa.Column("logged_on", sa.Boolean, nullable=False),
        sa.Column("next_sender_seq", sa.BigInteger),  # next MsgSeqNum we send
        sa.Column("next_target_seq", sa.BigInteger),  # next MsgSeqNum we expect
        sa.Column("last_message_at", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.text("now()")),
    )


def downgrade() -> None:
    op.drop_table("fix_session_state")
    op.drop_constraint("ck_fix_sessions_kind", "fix_sessions", type_="check")
    op.drop_column("fix_sessions", "updated_at")
    op.drop_column("fix_sessions", "kind")
