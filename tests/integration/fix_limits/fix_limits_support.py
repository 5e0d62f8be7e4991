"""Shared values of the fix_limits tests (a module of its own: test files cannot import conftest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


def exchange_env(data_dir: Path, port: int) -> dict[str, str]:
    return {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_EXCHANGE_PORT": str(port),
            "BROKERAGE_EXCHANGE_AUTH": "true", "BROKERAGE_LOG_FORMAT": "json",
            "BROKERAGE_EXCHANGE_PASSWORDS": json.dumps(EXCHANGE_PASSWORDS)}


