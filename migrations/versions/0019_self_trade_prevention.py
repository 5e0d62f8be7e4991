"""Order types and self-trade prevention (ADR 025): trailing stops (ord_type 'pegged', the trail distance in
stop_px), market/limit-on-close (time_in_force 'at_the_close', so the column widens), and each account's
self-trade prevention mode, sent to the exchange on every order (tag 7940).

Revision ID: 0019_self_trade_prevention
Revises: 0017_provisioning
Create Date: 2026-12-02 13:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_self_trade_prevention"
down_revision: str | Sequence[str] | None = "0017_provisioning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("orders", "time_in_force", type_=sa.String(12), existing_nullable=False)
    op.drop_constraint(op.f("ck_orders_ord_type"), "orders", type_="check")
    op.create_check_constraint(op.f("ck_orders_ord_type"), "orders",
                               "ord_type IN ('market', 'limit', 'stop', 'stop_limit', 'pegged')")
    op.drop_constraint(op.f("ck_orders_time_in_force"), "orders", type_="check")
    op.create_check_constraint(op.f("ck_orders_time_in_force"), "orders",
                               "time_in_force IN ('day', 'gtc', 'ioc', 'fok', 'at_the_close')")
    op.add_column("accounts", sa.Column("stp_mode", sa.String(16), nullable=False, server_default="cancel_newest"))
    op.create_check_constraint(op.f("ck_accounts_stp_mode"), "accounts",
                               "stp_mode IN ('cancel_newest', 'cancel_oldest', 'cancel_both')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_accounts_stp_mode"), "accounts", type_="check")
    op.drop_column("accounts", "stp_mode")
    op.execute("DELETE FROM executions WHERE order_id IN (SELECT order_id FROM orders WHERE ord_type = 'pegged' "
               "OR time_in_force = 'at_the_close')")
    op.execute("DELETE FROM orders WHERE ord_type = 'pegged' OR time_in_force = 'at_the_close'")
    op.drop_constraint(op.f("ck_orders_time_in_force"), "orders", type_="check")
    op.create_check_constraint(op.f("ck_orders_time_in_force"), "orders",
                               "time_in_force IN ('day', 'gtc', 'ioc', 'fok')")
    op.drop_constraint(op.f("ck_orders_ord_type"), "orders", type_="check")
    op.create_check_constraint(op.f("ck_orders_ord_type"), "orders",
                               "ord_type IN ('market', 'limit', 'stop', 'stop_limit')")
    op.alter_column("orders", "time_in_force", type_=sa.String(4), existing_nullable=False)
