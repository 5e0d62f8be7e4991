"""Shared fixtures: real PostgreSQL and Redis servers for the whole test session.

The test setup starts its own servers (the same code as `brokerage services start`) in a temporary
directory on free loopback ports, so runs never collide with a developer's `./var/` servers or with
each other. Set BROKERAGE_TEST_DATABASE_URL and BROKERAGE_TEST_REDIS_URL to use existing servers.

The servers are locked down as in a real run (ADR 008): URLs carry the generated passwords, and
``database_url`` is the owner role (may CREATE DATABASE, runs migrations) while ``app_database_url``
is the non-superuser application role every process uses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from brokerage.services import LocalServices, free_port


@dataclass(frozen=True)
class TestServers:
    # URLs carry passwords: kept out of repr (test failure output)
    database_url: str = field(repr=False)  # the owner role on the `brokerage` database: may CREATE DATABASE
    redis_url: str = field(repr=False)
    data_dir: Path
    app_database_url: str | None = field(default=None, repr=False)  # the application role (None: external)


@pytest.fixture(scope="session")
def test_servers() -> Iterator[TestServers]:
    db_url = os.environ.get("BROKERAGE_TEST_DATABASE_URL")
    redis_url = os.environ.get("BROKERAGE_TEST_REDIS_URL")
    base = Path(tempfile.mkdtemp(prefix="brokerage-test-"))
    # Searchable by others so that, as root, the servers' system users keep their data in here (ADR 008)
    os.chmod(base, 0o755)
    services = LocalServices(
        base, free_port(), free_port(), postgres=db_url is None, redis=redis_url is None
    )
    services.start()
    try:
        yield TestServers(
            database_url=db_url or (services.postgres.url if services.postgres else ""),
            redis_url=redis_url or (services.redis.url if services.redis else ""),
            data_dir=base,
            app_database_url=services.postgres.app_url if services.postgres else None,
        )
    finally:
        services.remove_data()
        shutil.rmtree(base, ignore_errors=True)
