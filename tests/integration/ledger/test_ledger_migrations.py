"""Migrations on a real PostgreSQL server: upgrade → downgrade base → upgrade, and the schema matches metadata."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from ledger import migrate
from ledger.tables import metadata

pytestmark = pytest.mark.integration


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {row["tablename"] for row in rows} - {"alembic_version"}


def _schema_diff(url: str) -> list[object]:
    engine = create_engine(migrate.sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), metadata))
    finally:
        engine.dispose()


async def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    expected = set(metadata.tables)
    assert await _tables(empty_db_url) == set()

    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    assert await _tables(empty_db_url) == expected
    assert migrate.current_revisions(empty_db_url) == migrate.head_revisions()

    await asyncio.to_thread(migrate.downgrade, empty_db_url, "base")
    assert await _tables(empty_db_url) == set()
    assert migrate.current_revisions(empty_db_url) == set()

    await asyncio.to_thread(migrate.upgrade, empty_db_url, "heads")
    assert await _tables(empty_db_url) == expected
    # the migrated schema is exactly what ledger.tables declares (no drift between the two)
    assert await asyncio.to_thread(_schema_diff, empty_db_url) == []


async def test_each_test_gets_its_own_migrated_database(migrated_db_url: str, db_pool: asyncpg.Pool) -> None:
    assert await _tables(migrated_db_url) == set(metadata.tables)
    assert await db_pool.fetchval("SELECT count(*) FROM accounts") == 0
    assert migrate.current_revisions(migrated_db_url) == migrate.head_revisions()


def test_sqlalchemy_url_accepts_libpq_and_asyncpg_forms() -> None:
    assert migrate.sqlalchemy_url("postgresql://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert migrate.sqlalchemy_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert migrate.sqlalchemy_url("postgresql+asyncpg://u@h/d") == "postgresql+psycopg://u@h/d"
    with pytest.raises(ValueError):
        migrate.sqlalchemy_url("mysql://u@h/d")
