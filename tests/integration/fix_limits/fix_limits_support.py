"""Shared values of the fix_limits tests (a module of its own: test files cannot import conftest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
EXCHANGE_PASSWORDS = {"GATEWAY": "gw-link-secret", "MDFEED": "md-link-secret"}


@dataclass
class ExchangeProcess:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def exchange_env(data_dir: Path, port: int, secrets_dir: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_EXCHANGE_PORT": str(port),
           "BROKERAGE_EXCHANGE_AUTH": "true", "BROKERAGE_LOG_FORMAT": "json"}
    if secrets_dir is None:
        env["BROKERAGE_EXCHANGE_PASSWORDS"] = json.dumps(EXCHANGE_PASSWORDS)
    else:  # what `brokerage up` does: every process reads the generated files of one secrets directory
        env.pop("BROKERAGE_EXCHANGE_PASSWORDS", None)
        env["BROKERAGE_SECRETS_DIR"] = str(secrets_dir)
    return env
