"""Shared fixtures: real PostgreSQL and Redis servers for the whole test session.

The test setup starts its own servers (the same code as `brokerage services start`) in a temporary
directory on free loopback ports, so runs never collide with a developer's `./var/` servers or with
each other. Set BROKERAGE_TEST_DATABASE_URL and BROKERAGE_TEST_REDIS_URL to use existing servers.

The servers are locked down as in a real run (ADR 008): URLs carry the generated passwords, and
``database_url`` is the owner role (may CREATE DATABASE, runs migrations) while ``app_database_url``
is the non-superuser application role every process uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from brokerage.services import LocalServices, ServiceError, free_ports

# Test-only PostgreSQL settings: no fsync (a test cluster never outlives an OS crash, and commits then wait
# on no disk flush). Crash semantics between processes are unchanged: a killed backend or server still
# loses nothing a commit reported, since synchronous_commit stays on and the OS keeps the written pages.
TEST_POSTGRES_SETTINGS = {"fsync": "off", "full_page_writes": "off"}


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
        base, *free_ports(2), postgres=db_url is None, redis=redis_url is None
    )
    services.start()
    if services.postgres is not None:
        _tune_for_tests(services)
    try:
        yield TestServers(
            database_url=db_url or (services.postgres.url if services.postgres else ""),
            redis_url=redis_url or (services.redis.url if services.redis else ""),
            data_dir=base,
            app_database_url=services.postgres.app_url if services.postgres else None,
        )
    finally:
        _stop_fast(services)
        services.remove_data()
        shutil.rmtree(base, ignore_errors=True)


def _tune_for_tests(services: LocalServices) -> None:
    assert services.postgres is not None
    script = "".join(f"ALTER SYSTEM SET {name} = {value};\n" for name, value in TEST_POSTGRES_SETTINGS.items())
    result = services.postgres._psql(script + "SELECT pg_reload_conf();\n")
    if result.returncode != 0:
        raise ServiceError(f"cannot apply the test settings: {result.stderr.strip()[-2000:]}")


def _stop_fast(services: LocalServices) -> None:
    """End the session's servers without the shutdown work their data would need to survive (PostgreSQL's
    shutdown checkpoint, Redis' final save): the data is deleted right after. ``remove_data`` then finds
    them stopped (and would still stop them the slow way if this did not)."""
    pids = []
    if services.postgres is not None and (pid := services.postgres.pid()) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown: children end at once, no checkpoint
        pids.append(pid)
    if services.redis is not None and (pid := services.redis.pid()) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        pids.append(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child still answers kill(0); it is gone for our purpose
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False

