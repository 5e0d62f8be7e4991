"""Counterparties for the light client: a QuickFIX echo acceptor per test (see quickfix_echo.py) and the
real exchange process per module."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from quickfix_echo import REPO, EchoAcceptor

from brokerage.services import free_port, wait_until_listening


@pytest.fixture
def acceptor(tmp_path: Path) -> Iterator[EchoAcceptor]:
    echo = EchoAcceptor(tmp_path / "acceptor", free_port())
    echo.start()
    try:
        yield echo
    finally:
        echo.stop()
        assert echo.app.seen.errors == [], echo.app.seen.errors


@pytest.fixture(scope="module")
def exchange_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`brokerage exchange` as a real process (its command function, so no other CLI module is needed)."""
    data_dir = tmp_path_factory.mktemp("exchange")
    port = free_port()
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_LOG_FORMAT": "console"}
    main = "import typer; from brokerage.commands.exchange import exchange; typer.run(exchange)"
    log = data_dir / "exchange.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", main, "--port", str(port), "--symbols", "AAPL,MSFT", "--seed", "11",
             "--reset-on-logon", "--step", "0.2"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, "exchange", log=log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
