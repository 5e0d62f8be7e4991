"""Audit pseudonyms: per-account HMAC keys and the erasure log, in their own schema ``audit``.

A separate PostgreSQL schema keeps these tables out of the ledger's metadata (``ledger.tables``) and its
drift check, which compares the ``public`` schema only.

Revision ID: 0002_audit
Revises: 0001
Create Date: 2026-11-21 19:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002_audit"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS audit")
    # One random key per account: deleting the row makes the pseudonym impossible to link back (crypto-shredding).
    op.execute(
        """
        CREATE TABLE audit.pseudonyms (
            account_id  varchar(32) PRIMARY KEY,
            hmac_key    bytea NOT NULL CHECK (length(hmac_key) = 32),
            pseudonym   varchar(64) NOT NULL UNIQUE,
            created_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # What was forgotten and when, without the account id (the pseudonym alone identifies no one).
    op.execute(
        """
        CREATE TABLE audit.erasures (
            pseudonym     varchar(64) PRIMARY KEY,
            forgotten_at  timestamptz NOT NULL DEFAULT now(),
            requested_by  text NOT NULL DEFAULT ''
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit.erasures")
    op.execute("DROP TABLE IF EXISTS audit.pseudonyms")
    op.execute("DROP SCHEMA IF EXISTS audit")
