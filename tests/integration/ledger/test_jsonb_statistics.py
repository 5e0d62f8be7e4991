"""Migration 0024: ANALYZE skips the order path's jsonb documents, and the downgrade gives them statistics back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from ledger import migrate

pytestmark = pytest.mark.integration

_TARGETS = ("SELECT attrelid::regclass::text || '.' || attname, coalesce(attstattarget, -1) FROM pg_attribute "
            "WHERE (attrelid, attname) IN (('executions'::regclass, 'fix_fields'), ('outbox'::regclass, 'payload'), "
            "('executions'::regclass, 'session_id'))")


async def _targets(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {r[0]: r[1] for r in await conn.fetch(_TARGETS)}
    finally:
        await conn.close()


async def test_jsonb_columns_have_no_statistics_until_downgraded(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    # another column keeps the default (-1; NULL since PostgreSQL 17): only the two documents are skipped
    assert await _targets(empty_db_url) == {"executions.fix_fields": 0, "outbox.payload": 0,
                                            "executions.session_id": -1}
    await asyncio.to_thread(migrate.downgrade, empty_db_url, "0023_journal_statement_checks")
    assert await _targets(empty_db_url) == {"executions.fix_fields": -1, "outbox.payload": -1,
                                            "executions.session_id": -1}
