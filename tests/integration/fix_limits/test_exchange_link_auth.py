"""The exchange authenticates its peers (GATEWAY, MDFEED) by Password (554): attacks as raw bytes on the
exchange's FIX port, and the legitimate link (the real gateway process) as the control."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fix_limits_support import EXCHANGE_PASSWORDS, REPO, ExchangeProcess, exchange_env
from gateway_process import GatewayProcess
from gateway_wire import WireClient, value

if TYPE_CHECKING:
    from tests.conftest import TestServers

pytestmark = pytest.mark.integration

GOOD = EXCHANGE_PASSWORDS["GATEWAY"]


def attacker(exchange: ExchangeProcess, seq: int = 1) -> WireClient:
    return WireClient(exchange.port, "GATEWAY", "EXCHANGE", next_seq=seq)


@pytest.mark.parametrize(("password", "reason"), [(None, "Password (554) required"), ("guess", "Invalid password")])
def test_logon_without_the_right_password_gets_logout_with_reason(
        start_exchange: Callable[[], ExchangeProcess], password: str | None, reason: str) -> None:
    exchange = start_exchange()
    client = attacker(exchange)
    try:
        client.logon(password)
        logout = client.expect("5")
        assert value(logout, 58) == reason
        assert client.wait_closed(10)
    finally:
        client.close()
    control = attacker(exchange)  # the refused Logon did not consume the sequence number
    try:
        control.logon(GOOD)
        assert value(control.expect("A"), 34) is not None
    finally:
        control.close()
    assert exchange.alive()


def test_md_only_peer_needs_its_own_password(start_exchange: Callable[[], ExchangeProcess]) -> None:
    exchange = start_exchange()
    client = WireClient(exchange.port, "MDFEED", "EXCHANGE")
    try:
        client.logon(GOOD)  # GATEWAY's password is not MDFEED's
        assert value(client.expect("5"), 58) == "Invalid password"
    finally:
        client.close()
    client = WireClient(exchange.port, "MDFEED", "EXCHANGE")
    try:
        client.logon(EXCHANGE_PASSWORDS["MDFEED"])
        client.expect("A")
    finally:
        client.close()


def _session(exchange: ExchangeProcess, seq: int, exchanges: int) -> tuple[int, int]:
    """Log on with the right password at ``seq``, send ``exchanges`` TestRequests, log out.
    Returns (our next seq, the exchange's MsgSeqNum of its last message)."""
    client = attacker(exchange, seq)
    try:
        client.logon(GOOD)
        last = int(value(client.expect("A"), 34) or 0)
        for n in range(exchanges):
            client.send("1", [(112, f"t{n}")])
            last = int(value(client.expect("0"), 34) or 0)
        client.send("5")
        last = int(value(client.expect("5"), 34) or 0)
        return client.next_seq, last
    finally:
        client.close()


def test_reset_logon_without_password_is_refused_and_the_link_resumes(
        start_exchange: Callable[[], ExchangeProcess]) -> None:
    exchange = start_exchange()
    next_seq, last_from_exchange = _session(exchange, 1, 3)
    assert next_seq > 3 and last_from_exchange > 3

    client = attacker(exchange)  # 141=Y, 34=1, no password: QuickFIX resets before the password is seen
    try:
        client.send("A", [(98, "0"), (108, "30"), (141, "Y")])
        logout = client.expect("5")
        assert value(logout, 58) == "Password (554) required"
        assert client.wait_closed(10)
    finally:
        client.close()

    # the real peer continues where it was: same sequence numbers both ways, no ResendRequest needed
    client = attacker(exchange, next_seq)
    try:
        client.logon(GOOD)
        reply = client.expect("A")
        assert int(value(reply, 34) or 0) == last_from_exchange + 1, "the exchange's numbering was restored"
        assert value(reply, 141) is None
        client.send("1", [(112, "after")])
        heartbeat = client.expect("0")  # no ResendRequest: the exchange expected exactly our seq
        assert value(heartbeat, 112) == "after"
    finally:
        client.close()
    assert exchange.alive()
    assert "fix.refused_reset_undone" in exchange.log.read_text()  # QuickFIX did reset; we put it back


def test_reset_logon_with_the_password_is_honoured(start_exchange: Callable[[], ExchangeProcess]) -> None:
    exchange = start_exchange()
    _session(exchange, 1, 2)
    client = attacker(exchange)
    try:
        client.send("A", [(98, "0"), (108, "30"), (141, "Y"), (554, GOOD)])
        reply = client.expect("A")
        assert value(reply, 141) == "Y" and value(reply, 34) == "1"
    finally:
        client.close()


def test_gateway_links_with_the_configured_password(
        start_exchange: Callable[[], ExchangeProcess], seeded_db: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    exchange = start_exchange()
    monkeypatch.setenv("BROKERAGE_EXCHANGE_PASSWORDS", json.dumps({"GATEWAY": GOOD}))
    gateway = GatewayProcess(seeded_db, tmp_path / "gateway", exchange=(exchange.port, "EXCHANGE", "GATEWAY"))
    gateway.data_dir.mkdir()
    gateway.start()
    try:
        deadline = time.monotonic() + 30
        while "fix.exchange_link_up" not in gateway.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "fix.exchange_link_up" in gateway.log(), gateway.log()[-3000:]
    finally:
        assert gateway.stop() == 0
    assert GOOD not in gateway.log()  # never logged


def test_generated_passwords_link_the_market_data_feed(
        start_exchange: Callable[..., ExchangeProcess], test_servers: TestServers, tmp_path: Path) -> None:
    """As `brokerage up` runs it: no password configured, both sides read <secrets_dir>/exchange-mdfeed (created
    0600 by whoever came first); the ingestor logs on with 141=Y and its password, and quotes flow."""
    secrets = tmp_path / "secrets"
    exchange = start_exchange(secrets)
    password_file = secrets / "exchange-mdfeed"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    data = tmp_path / "marketdata"
    data.mkdir()
    env = {**exchange_env(data, exchange.port, secrets), "BROKERAGE_REDIS_URL": test_servers.redis_url}
    log = data / "marketdata.log"
    with log.open("wb") as out:
        ingestor = subprocess.Popen([sys.executable, "-m", "brokerage.cli", "marketdata", "--symbols", "AAPL,MSFT"],
                                    cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 45
        while "marketdata.subscribed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "marketdata.subscribed" in log.read_text(), log.read_text()[-3000:]
    finally:
        ingestor.send_signal(signal.SIGTERM)
        try:
            ingestor.wait(20)
        except subprocess.TimeoutExpired:
            ingestor.kill()
    text = exchange.log.read_text()
    assert "fix.logon_refused" not in text
    assert password_file.read_text().strip() not in text + log.read_text()
