"""API tokens: an expiry on every token, an ``operator`` role (moves cash, reads every account), and a mark
on the admin token that start-up provisioning manages (var/admin-token or BROKERAGE_ADMIN_TOKEN), so that
rotating it revokes the previous one.

Existing tokens get the default lifetime (90 days) from the upgrade on.

Revision ID: 0005_api_tokens
Revises: 0003_order_path
Create Date: 2026-12-02 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_api_tokens"
down_revision: str | Sequence[str] | None = "0003_order_path"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_EXPIRY = sa.text("now() + interval '90 days'")


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False,
                                          server_default=DEFAULT_EXPIRY))
    op.add_column("api_tokens", sa.Column("managed_admin", sa.Boolean(), nullable=False,
                                          server_default=sa.text("false")))
    op.drop_constraint(op.f("ck_api_tokens_role"), "api_tokens", type_="check")
    op.create_check_constraint(op.f("ck_api_tokens_role"), "api_tokens",
                               "role IN ('admin', 'operator', 'account', 'compliance')")
    # The provisioning-managed admin tokens of earlier releases carry these labels.
    op.execute("UPDATE api_tokens SET managed_admin = true WHERE role = 'admin' AND label IN "
               "('admin (demo seed)', 'admin (BROKERAGE_ADMIN_TOKEN)')")


def downgrade() -> None:
    op.execute("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE role = 'operator'")
    op.execute("UPDATE api_tokens SET role = 'compliance' WHERE role = 'operator'")
    op.drop_constraint(op.f("ck_api_tokens_role"), "api_tokens", type_="check")
    op.create_check_constraint(op.f("ck_api_tokens_role"), "api_tokens", "role IN ('admin', 'account', 'compliance')")
    op.drop_column("api_tokens", "managed_admin")
    op.drop_column("api_tokens", "expires_at")
