"""Generated secrets of the local services, kept in files only their owner can read.

``<data_dir>/secrets/`` (0700) holds one file per secret (0600): the PostgreSQL owner and application
role passwords and the Redis password. They are generated on first use with :mod:`secrets`, never
passed on a command line or in the environment of a child process, and never logged: code that shows a
URL uses :func:`hide_password`.

``<data_dir>`` itself is created 0700 (:func:`ensure_private_dir`): it holds the FIX stores and logs,
the audit engine, tokens and these secrets.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

SECRETS_DIR = "secrets"
POSTGRES_OWNER_SECRET = "postgres-owner-password"
POSTGRES_APP_SECRET = "postgres-app-password"
REDIS_SECRET = "redis-password"

PG_DATABASE = "brokerage"
PG_OWNER_ROLE = "brokerage"  # owns the database and its schemas; runs the migrations
PG_APP_ROLE = "brokerage_app"  # every process: DML on the ledger tables, nothing else


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by its owner only; tighten it if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def secrets_dir(data_dir: Path) -> Path:
    return Path(data_dir) / SECRETS_DIR


def secret_path(data_dir: Path, name: str) -> Path:
    return secrets_dir(data_dir) / name


def read_secret(data_dir: Path, name: str) -> str | None:
    """The secret's value, or None when it was never generated (or is unreadable to us)."""
    try:
        value = secret_path(data_dir, name).read_text().strip()
    except OSError:
        return None
    return value or None


def ensure_secret(data_dir: Path, name: str) -> str:
    """The secret's value, generated (URL-safe, 256 bits) and written 0600 on first use."""
    directory = ensure_private_dir(secrets_dir(data_dir))
    path = directory / name
    value = read_secret(data_dir, name)
    if value is not None:
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            os.chmod(path, 0o600)
        return value
    value = secrets.token_urlsafe(32)
    tmp = directory / f".{name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a secret another process wrote meanwhile
    except FileExistsError:
        existing = read_secret(data_dir, name)
        if existing is not None:
            value = existing
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return value


def postgres_url(role: str, password: str | None, port: int, database: str = PG_DATABASE,
                 host: str = "127.0.0.1") -> str:
    auth = f"{role}:{quote(password, safe='')}" if password else role
    return f"postgresql://{auth}@{host}:{port}/{database}"


def redis_url(password: str | None, port: int, db: int = 0, host: str = "127.0.0.1") -> str:
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


def hide_password(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: safe to print or log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def scram_sha256_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 7677 / PostgreSQL's
    ``pg_authid.rolpassword`` format). Setting a role's password to the verifier means the plain
    password never reaches the server, its logs or ``pg_stat_activity``."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def redis_password_hash(password: str) -> str:
    """The form Redis ACL rules accept instead of the plain password (``#<sha256 hex>``)."""
    return "#" + hashlib.sha256(password.encode()).hexdigest()
