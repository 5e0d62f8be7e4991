"""The ledger: accounts, cash, holdings, reservations, fills and the double-entry journal, in PostgreSQL.

Pure domain (no I/O): ``money`` (Decimal scales and rounding), ``postings`` (balanced journal entries),
``reservations`` (blocking/releasing buying power and shares), ``fills`` (cash, holdings, cost basis,
realized P&L of a fill), ``buying_power`` (cash accounts; Reg T for margin), ``errors``.

Adapters (asyncpg): ``repository.LedgerRepository`` (accounts, deposits, withdrawals with idempotency),
``order_postings`` (block/release/book fills inside the order path's transaction), ``journal_store`` (the
shared statements: lock the account row, append entries and outbox events), ``reconcile`` (journal replay),
``provisioning`` (FIX sessions, API tokens, demo seed), ``migrate`` (Alembic, migrations in ``migrations/``).
"""
