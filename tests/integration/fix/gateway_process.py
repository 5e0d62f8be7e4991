"""Helpers for the gateway tests: provisioning sessions, reading the outbox, running the real
gateway process (``brokerage gateway --no-exchange-link``) on free ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from brokerage.services import free_port, wait_until_listening
from ledger.credentials import hash_password

# `brokerage gateway` without loading every other command of the CLI
GATEWAY_COMMAND = [sys.executable, "-m", "brokerage.commands.gateway", "--no-exchange-link"]
PASSWORDS = {"CLIENT1": "s3cret-one", "CLIENT2": "s3cret-two"}


async def seed_sessions(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for comp_id, password in PASSWORDS.items():
            await conn.execute(
                "INSERT INTO fix_sessions (sender_comp_id, target_comp_id, username, password_hash) "
                "VALUES ($1, 'BROKER', $2, $3)", comp_id, comp_id.lower(), hash_password(password))
        await conn.execute(
            "INSERT INTO fix_sessions (sender_comp_id, target_comp_id, password_hash, enabled) "
            "VALUES ('DISABLED1', 'BROKER', $1, false)", hash_password("whatever"))
    finally:
        await conn.close()


async def outbox_events(database_url: str) -> list[tuple[str, dict[str, str]]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT event_type, payload::text AS payload FROM outbox ORDER BY seq")
    finally:
        await conn.close()
    return [(row["event_type"], json.loads(row["payload"])) for row in rows]


@dataclass
class GatewayProcess:
    database_url: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    tls_port: int | None = None
    certificate: Path | None = None
    private_key: Path | None = None
    exchange: tuple[int, str, str] | None = None  # (port, exchange CompID, our CompID toward it)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> None:
        env = dict(os.environ,
                   BROKERAGE_DATABASE_URL=self.database_url,
                   BROKERAGE_DATA_DIR=str(self.data_dir),
                   BROKERAGE_FIX_PORT=str(self.port),
                   BROKERAGE_LOG_FORMAT="json")
        if self.tls_port is not None:
            env.update(BROKERAGE_FIX_TLS_PORT=str(self.tls_port),
                       BROKERAGE_FIX_TLS_CERTIFICATE=str(self.certificate),
                       BROKERAGE_FIX_TLS_PRIVATE_KEY=str(self.private_key))
        command = list(GATEWAY_COMMAND)
        if self.exchange is not None:
            command.remove("--no-exchange-link")
            port, exchange_comp_id, our_comp_id = self.exchange
            env.update(BROKERAGE_EXCHANGE_PORT=str(port), BROKERAGE_EXCHANGE_COMP_ID=exchange_comp_id,
                       BROKERAGE_GATEWAY_EXCHANGE_COMP_ID=our_comp_id, BROKERAGE_EXCHANGE_RECONNECT_SECONDS="1")
        self.log_path = self.data_dir / f"gateway-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        self._wait_listening(self.tls_port or self.port)

    def _wait_listening(self, port: int) -> None:
        assert self.process is not None
        wait_until_listening(port, self.process, "gateway", timeout=30, log=self.log_path)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status (a crash shows as a signal/non-zero)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
