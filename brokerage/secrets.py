"""Generated local secrets: one value per file, mode 0600, in a 0700 directory, created on first use.

    load_or_create(path) -> SecretStr           # the file's value; a new random one if missing
    secrets_dir(settings) -> Path               # settings.secrets_dir or <data_dir>/secrets
    exchange_password(settings, comp_id) -> SecretStr

Two processes that share a secrets directory agree on a password without anyone typing it: the
exchange and the gateway/marketdata ingestor of a local run (`brokerage up`) read the same
``exchange-<compid>`` file. Separate machines or containers pass the value in the environment
instead (``BROKERAGE_EXCHANGE_PASSWORDS='{"GATEWAY": "...", "MDFEED": "..."}'``), which wins.
The value is never logged: callers get a ``SecretStr``.
"""

from __future__ import annotations

import contextlib
import os
import secrets as random_source
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from brokerage.settings import Settings

__all__ = ["exchange_password", "load_or_create", "secrets_dir"]


def load_or_create(path: Path) -> SecretStr:
    """The secret stored at ``path``; creates it (random, 0600, parent 0700) when absent. Safe against
    two processes creating it at once: the file is created exclusively and the loser reads the winner's."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    value = random_source.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return SecretStr(value)


def _read(path: Path) -> SecretStr:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # a secret readable by others is tightened, not trusted blindly
    for _ in range(50):  # the creator may not have written it yet
        value = path.read_text().strip()
        if value:
            return SecretStr(value)
        time.sleep(0.01)
    raise ValueError(f"secret file {path} is empty")


def secrets_dir(settings: Settings) -> Path:
    return (settings.secrets_dir or settings.data_dir / "secrets").resolve()


def exchange_password(settings: Settings, comp_id: str) -> SecretStr:
    """The password the exchange expects from ``comp_id`` (GATEWAY, MDFEED, ...), and the peer sends."""
    configured = settings.exchange_passwords.get(comp_id)
    if configured is not None:
        return configured
    return load_or_create(secrets_dir(settings) / f"exchange-{comp_id.lower()}")
