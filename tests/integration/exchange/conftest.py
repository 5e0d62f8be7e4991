"""The exchange as a real process on a free port, and a raw FIX 4.4 client (simplefix over a socket)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import simplefix

from brokerage.services import ServiceError, free_port, wait_until_listening
from tests.integration.order_path.system import command

REPO = Path(__file__).resolve().parents[3]
SYMBOLS = "AAPL,MSFT,F"


@dataclass
class ExchangeProcess:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path


def start_exchange(data_dir: Path, port: int, seed: int = 5) -> ExchangeProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "exchange.log"
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_LOG_FORMAT": "console"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            command("exchange", "--port", str(port), "--seed", str(seed),
                    "--symbols", SYMBOLS, "--step", "0.2", "--taker-probability", "0.3"),
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, "exchange", log=log)
    except ServiceError:
        process.kill()
        raise
    return ExchangeProcess(port, data_dir, process, log)


def stop_exchange(exchange: ExchangeProcess) -> None:
    exchange.process.terminate()
    try:
        exchange.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        exchange.process.kill()
        exchange.process.wait()


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeProcess]:
    proc = start_exchange(tmp_path_factory.mktemp("exchange"), free_port())
    try:
        yield proc
    finally:
        stop_exchange(proc)
        assert "Traceback" not in proc.log.read_text(), proc.log.read_text()[-4000:]


Fields = dict[int, str]


class RawFixClient:
    """Just enough FIX 4.4 session to log on and talk to the exchange (answers TestRequests)."""

    def __init__(self, port: int, sender: str, target: str = "EXCHANGE", seq: int = 1) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sender, self.target = sender, target
        self.seq = seq
        self.parser = simplefix.FixParser()
        self.received: list[simplefix.FixMessage] = []

    def send(self, msg_type: str, fields: list[tuple[int, object]]) -> None:
        msg = simplefix.FixMessage()
        msg.append_pair(8, "FIX.4.4", header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, self.sender, header=True)
        msg.append_pair(56, self.target, header=True)
        msg.append_pair(34, self.seq, header=True)
        msg.append_pair(52, datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3], header=True)
        for tag, value in fields:
            msg.append_pair(tag, value)
        self.seq += 1
        self.sock.sendall(msg.encode())

    def logon(self, reset: bool = True) -> simplefix.FixMessage:
        self.send("A", [(98, 0), (108, 30)] + ([(141, "Y")] if reset else []))
        return self.expect(lambda m: m.get(35) == b"A")

    def _read(self, timeout: float) -> simplefix.FixMessage | None:
        message = self.parser.get_message()
        if message is not None:
            return message
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        if not data:
            raise ConnectionError("exchange closed the connection")
        self.parser.append_buffer(data)
        return self.parser.get_message()

    def expect(self, match: Callable[[simplefix.FixMessage], bool], timeout: float = 10.0) -> simplefix.FixMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._read(max(0.05, deadline - time.monotonic()))
            if message is None:
                continue
            self.received.append(message)
            if message.get(35) == b"1":
                self.send("0", [(112, message.get(112).decode())])
            if match(message):
                return message
        raise AssertionError(f"no matching message within {timeout}s; got {[str(m) for m in self.received[-5:]]}")

    def expect_type(self, msg_type: str, **tags: str) -> simplefix.FixMessage:
        def match(m: simplefix.FixMessage) -> bool:
            return m.get(35) == msg_type.encode() and all(m.get(int(t[1:])) == v.encode() for t, v in tags.items())
        return self.expect(match)

    def logout(self, timeout: float = 5.0) -> None:
        """Log out and wait until the exchange has closed the connection. The next test logs on with the same
        CompID at once: a connection accepted while QuickFIX is still dropping the previous one of that session
        can be closed along with it (seen once in CI: the new Logon was never read, the socket closed)."""
        self.send("5", [])
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.monotonic()))
                if not self.sock.recv(65536):
                    break  # closed by the exchange after its Logout
        except OSError:  # reset or timed out: gone either way
            pass
        self.close()

    def close(self) -> None:
        self.sock.close()


def value(message: simplefix.FixMessage, tag: int, nth: int = 1) -> str | None:
    raw = message.get(tag, nth)
    return raw.decode() if raw is not None else None
