"""Integration fixtures on the real servers of ``test_servers``.

The ledger schema is migrated ONCE per session into a template database; each test then gets its own
database cloned from it (``CREATE DATABASE … TEMPLATE …`` copies files, so it takes milliseconds, far
less than running the migrations again) and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import asyncpg
import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg import sql
from sqlalchemy.engine import make_url

from ledger import migrate

# Exchange link authentication (ADR 007) is on by default, with passwords generated under each process's
# data dir; the suites that start the exchange, the gateway and raw FIX clients in separate data dirs
# predate it, so it is off for them unless a test turns it on (tests/integration/fix_limits/ does).
os.environ.setdefault("BROKERAGE_EXCHANGE_AUTH", "false")

if TYPE_CHECKING:
    from tests.conftest import TestServers


def database_url(server_url: str, database: str) -> str:
    """``server_url`` pointing at another database of the same server (asyncpg/libpq form)."""
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def _admin_execute(server_url: str, statement: sql.Composed) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction block
    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    _admin_execute(server_url, statement)
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    _admin_execute(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def ledger_template_db(test_servers: TestServers) -> Iterator[str]:
    """Name of a database migrated to head, used only as a template (never connect to it in a test)."""
    name = f"brokerage_template_{uuid.uuid4().hex[:8]}"
    url = create_database(test_servers.database_url, name)
    try:
        migrate.upgrade(url)
        yield name
    finally:
        drop_database(test_servers.database_url, name)


@pytest.fixture
def migrated_db_url(test_servers: TestServers, ledger_template_db: str) -> Iterator[str]:
    """URL (``postgresql://…``, asyncpg form) of a fresh database at the head revision, for this test only."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = create_database(test_servers.database_url, name, template=ledger_template_db)
    try:
        yield url
    finally:
        drop_database(test_servers.database_url, name)


@pytest.fixture
def empty_db_url(test_servers: TestServers) -> Iterator[str]:
    """URL of a fresh, empty database (no schema), for migration tests."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = create_database(test_servers.database_url, name)
    try:
        yield url
    finally:
        drop_database(test_servers.database_url, name)


@pytest.fixture
async def db_pool(migrated_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_db_url, min_size=1, max_size=20)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def redis_client(test_servers: TestServers) -> AsyncIterator[aioredis.Redis]:  # type: ignore[type-arg,unused-ignore]
    client = aioredis.from_url(test_servers.redis_url, decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()  # type: ignore[attr-defined,unused-ignore]
