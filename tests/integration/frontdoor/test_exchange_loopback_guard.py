"""The simulated exchange's QuickFIX acceptor (host setting loopback, the default) is reachable from
127.0.0.1 only, although QuickFIX binds every interface."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brokerage.services import free_port, wait_until_listening

pytestmark = pytest.mark.integration


def test_exchange_acceptor_refuses_other_sources(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "exchange.log"
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(tmp_path), "BROKERAGE_LOG_FORMAT": "console"}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "brokerage.cli", "exchange", "--port", str(port),
                                    "--symbols", "AAPL", "--step", "0.5"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, "exchange", log=log)
        deadline = time.monotonic() + 30
        while "fix.acceptor_loopback_only" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        stranger = socket.socket()
        stranger.bind(("127.0.0.2", 0))
        stranger.settimeout(2)
        with pytest.raises(OSError):  # the SYN from 127.0.0.2 is dropped
            stranger.connect(("127.0.0.1", port))
        stranger.close()
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # control: loopback gets in
            pass
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
