"""The exchange as a real process (its FIX acceptor publishes 35=W/X) for the ingestor's tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from brokerage.services import free_port, wait_until_listening
from tests.integration.order_path.system import command

REPO = Path(__file__).resolve().parents[3]
EXCHANGE_SYMBOLS = ("AAPL", "MSFT", "F", "GM")


@dataclass
class RunningExchange:
    port: int
    data_dir: Path
    log: Path
    symbols: tuple[str, ...] = EXCHANGE_SYMBOLS


@pytest.fixture(scope="module")
def running_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningExchange]:
    data_dir = tmp_path_factory.mktemp("md-exchange")
    port = free_port()
    log = data_dir / "exchange.log"
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_LOG_FORMAT": "console"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            command("exchange", "--port", str(port), "--symbols", ",".join(EXCHANGE_SYMBOLS), "--step", "0.1",
                    "--taker-probability", "0.5", "--reset-on-logon"),
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, "exchange", log=log)
        yield RunningExchange(port, data_dir, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
