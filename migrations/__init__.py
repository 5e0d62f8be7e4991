"""Alembic environment and versions of the ledger schema (driven by ledger.migrate, no alembic.ini)."""
