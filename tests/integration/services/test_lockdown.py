"""The local services as an attacker on the same machine finds them (ADR 008): each test is the attack,
with the refusal expected, and a control showing the legitimate path still works."""

from __future__ import annotations

import os
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis as redis_lib
from sqlalchemy.engine import make_url

from brokerage.credentials import PG_APP_ROLE
from brokerage.services import LocalServices, free_port
from brokerage.settings import Settings
from ledger import migrate
from tests.integration.conftest import create_database, database_url, drop_database

if TYPE_CHECKING:
    from tests.conftest import TestServers


def _redis_port(test_servers: TestServers) -> int:
    port = make_url(test_servers.redis_url.replace("redis://", "postgresql://", 1)).port
    assert port is not None
    return port


def _raw_redis(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command)
        return sock.recv(512)


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def _listener_pid(port: int) -> int:
    """The pid listening on 127.0.0.1:port (from /proc/net/tcp and the processes' fds)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            inode = fields[9]
    assert inode is not None, f"nothing listens on {port}"
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return int(pid_dir.name)
        except OSError:
            continue
    raise AssertionError(f"no process owns the listener on {port}")


# --- Redis -----------------------------------------------------------------------------------------

def test_redis_without_password_is_refused(test_servers: TestServers) -> None:
    if not test_servers.redis_url.startswith("redis://:"):
        pytest.skip("an external test Redis")
    port = _redis_port(test_servers)
    assert _raw_redis(port, b"PING\r\n").startswith(b"-NOAUTH")
    assert _raw_redis(port, b"GET quote:AAPL\r\n").startswith(b"-NOAUTH")
    assert _raw_redis(port, b"AUTH wrong-password\r\n").startswith(b"-WRONGPASS")
    # control: the URL the system uses carries the password
    assert redis_lib.Redis.from_url(test_servers.redis_url).ping()


@pytest.mark.parametrize("command", [
    ("CONFIG", "SET", "dir", "/tmp"),
    ("CONFIG", "GET", "*"),
    ("MODULE", "LOAD", "/tmp/evil.so"),
    ("DEBUG", "SLEEP", "0"),
    ("ACL", "SETUSER", "default", "+config"),
    ("REPLICAOF", "127.0.0.1", "1"),
    ("MONITOR",),
])
def test_redis_dangerous_commands_are_refused_even_with_the_password(
    test_servers: TestServers, command: tuple[str, ...]
) -> None:
    if not test_servers.redis_url.startswith("redis://:"):
        pytest.skip("an external test Redis")
    client = redis_lib.Redis.from_url(test_servers.redis_url, db=15)
    with pytest.raises(redis_lib.exceptions.NoPermissionError):
        client.execute_command(*command)
    client.set("lockdown:control", "1")  # control: ordinary commands work
    assert client.get("lockdown:control") == b"1"
    client.delete("lockdown:control")


@pytest.mark.skipif(os.geteuid() != 0, reason="only meaningful when the tests run as root")
def test_servers_do_not_run_as_root(test_servers: TestServers) -> None:
    if not test_servers.redis_url.startswith("redis://:") or test_servers.app_database_url is None:
        pytest.skip("external test servers")
    assert _uid_of(_listener_pid(_redis_port(test_servers))) != 0
    pg_port = make_url(test_servers.database_url).port
    assert pg_port is not None
    assert _uid_of(_listener_pid(pg_port)) != 0


# --- PostgreSQL ------------------------------------------------------------------------------------

def _without_password(url: str, user: str | None = None, password: str | None = None) -> str:
    parsed = make_url(url)
    auth = f"{user or parsed.username}:{password}" if password else f"{user or parsed.username}"
    return f"postgresql://{auth}@{parsed.host}:{parsed.port}/{parsed.database}"


def test_postgres_without_password_is_refused(test_servers: TestServers) -> None:
    if test_servers.app_database_url is None:
        pytest.skip("an external test PostgreSQL")
    for attempt in (
        _without_password(test_servers.database_url),  # the owner, no password
        _without_password(test_servers.app_database_url),  # the app role, no password
        _without_password(test_servers.app_database_url, password="brokerage"),  # a guess
        _without_password(test_servers.database_url, user="postgres", password="postgres"),  # superuser
    ):
        with pytest.raises(psycopg.OperationalError, match=r"authentication failed|rejects connection|password"):
            psycopg.connect(attempt, connect_timeout=5).close()
    psycopg.connect(test_servers.app_database_url, connect_timeout=5).close()  # control


@pytest.fixture
def ledger_db(test_servers: TestServers, ledger_template_db: str) -> Iterator[tuple[str, str]]:
    """(owner URL, app-role URL) of a migrated ledger database with the app role granted, as
    `brokerage db upgrade` leaves it."""
    if test_servers.app_database_url is None:
        pytest.skip("an external test PostgreSQL")
    name = f"lockdown_{uuid.uuid4().hex[:10]}"
    owner_url = create_database(test_servers.database_url, name, template=ledger_template_db)
    try:
        assert migrate.grant_app_role(owner_url, PG_APP_ROLE)
        yield owner_url, database_url(test_servers.app_database_url, name)
    finally:
        drop_database(test_servers.database_url, name)


@pytest.mark.parametrize("attack", [
    "CREATE ROLE attacker LOGIN SUPERUSER",
    "CREATE ROLE attacker LOGIN",
    "ALTER ROLE brokerage_app SUPERUSER",
    "ALTER ROLE brokerage CREATEROLE",
    "CREATE DATABASE attacker",
    "CREATE TABLE public.attacker (x int)",
    "CREATE SCHEMA attacker",
    "DROP TABLE accounts",
    "TRUNCATE accounts",
    "ALTER TABLE accounts ADD COLUMN attacker int",
    "UPDATE alembic_version SET version_num = 'x'",
    "COPY (SELECT 1) TO PROGRAM 'id'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM pg_authid",
    "CREATE FUNCTION public.attacker() RETURNS int LANGUAGE sql AS 'SELECT 1'",
])
def test_app_role_cannot_escalate_or_write_outside_its_tables(ledger_db: tuple[str, str], attack: str) -> None:
    _, app_url = ledger_db
    with psycopg.connect(app_url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(attack)


def test_app_role_is_not_a_superuser_and_uses_the_ledger(ledger_db: tuple[str, str]) -> None:
    _, app_url = ledger_db
    with psycopg.connect(app_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False)
        # control: the application's work (read, write, sequences) is allowed
        conn.execute("SELECT count(*) FROM accounts").fetchone()
        conn.execute("UPDATE trading_controls SET name = name WHERE false")
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None


def test_app_role_cannot_reach_the_postgres_database(test_servers: TestServers) -> None:
    if test_servers.app_database_url is None:
        pytest.skip("an external test PostgreSQL")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(database_url(test_servers.app_database_url, "postgres"), connect_timeout=5).close()


# --- files -----------------------------------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_private(test_servers: TestServers) -> None:
    secrets = test_servers.data_dir / "secrets"
    assert _mode(secrets) == 0o700
    files = list(secrets.iterdir())
    assert {f.name for f in files} >= {"postgres-owner-password", "postgres-app-password", "redis-password"}
    assert all(_mode(f) == 0o600 for f in files)


def test_data_dir_is_created_private_and_tightened(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / "var"
    LocalServices.from_settings(Settings(data_dir=fresh))
    assert _mode(fresh) == 0o700
    older = tmp_path / "older-var"
    older.mkdir(mode=0o755)
    os.chmod(older, 0o755)
    LocalServices.from_settings(Settings(data_dir=older))
    assert _mode(older) == 0o700


def test_starting_services_never_widens_ancestors(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A project under a private (0700) directory: the servers still start, and no ancestor of the data
    directory gains any permission bit (the old code gave 'others' search permission up to /)."""
    private = tmp_path_factory.mktemp("private-home")
    os.chmod(private, 0o700)
    data_dir = private / "project" / "var"
    chain = [data_dir.parent, *data_dir.parent.parents]
    data_dir.parent.mkdir(parents=True)
    before = {p: _mode(p) for p in chain}
    services = LocalServices.from_settings(
        Settings(data_dir=data_dir, local_postgres_port=free_port(), local_redis_port=free_port())
    )
    try:
        services.start()
        assert all(s.healthy for s in services.status())
        assert {p: _mode(p) for p in chain} == before
        assert _mode(data_dir) == 0o700
        assert services.postgres is not None and services.redis is not None
        if os.geteuid() == 0:  # data where the service users can reach it, outside the project
            assert not services.postgres.root.is_relative_to(private)
            assert not services.redis.root.is_relative_to(private)
            assert _mode(services.postgres.root) == 0o700 and services.postgres.root.stat().st_uid != 0
        psycopg.connect(services.postgres.app_url, connect_timeout=5).close()
        assert redis_lib.Redis.from_url(services.redis.url).ping()
    finally:
        services.remove_data()
