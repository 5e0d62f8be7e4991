"""No FIX password (554) in any file a FIX engine writes, nor in its output; those files are private
(ADR 008). Real QuickFIX engines on both sides: an initiator that authenticates with a password (as the
gateway does on the exchange link) and an acceptor that checks it (as the gateway does for clients)."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
import quickfix as fix

from brokerage.services import free_port
from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec

PASSWORD = "Pw-" + os.urandom(8).hex()


class Authenticating(SafeApplication):
    def on_admin_out(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if message.getHeader().getField(35) == "A":
            message.setField(554, PASSWORD)


class Checking(SafeApplication):
    def __init__(self) -> None:
        super().__init__("acceptor")
        self.logons = 0

    def check_logon(self, logon: fix.Message, session_id: fix.SessionID) -> str | None:
        if not logon.isSetField(554) or logon.getField(554) != PASSWORD:
            return "bad password"
        self.logons += 1
        return None


def _wait(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.05)
    return False


def _every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_password_is_in_no_fix_file_and_no_output(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    checking = Checking()
    acceptor = Engine(Endpoint("acc", "acceptor", data_dir, port), [SessionSpec("EXCHANGE", "GATEWAY")], checking)
    initiator = Engine(Endpoint("ini", "initiator", data_dir, port, reconnect_seconds=1),
                       [SessionSpec("GATEWAY", "EXCHANGE")], Authenticating("initiator"))
    session = initiator.session_ids()[0]
    acceptor.start()
    initiator.start()
    try:
        # control: the password went over the wire and was checked
        assert _wait(lambda: initiator.is_logged_on(session)), "the initiator never logged on"
        assert checking.logons == 1
        # a second logon (reconnect) appends another stored Logon: scrubbed as well
        fix.Session.lookupSession(session).logout()
        assert _wait(lambda: not initiator.is_logged_on(session))
        fix.Session.lookupSession(session).logon()
        assert _wait(lambda: initiator.is_logged_on(session)), "no logon after reconnect"
    finally:
        initiator.stop()
        acceptor.stop()
    out, err = capfd.readouterr()

    files = _every_file(data_dir)
    assert any(p.name.endswith(".messages.log") for p in files)
    assert any(p.name.endswith(".body") for p in files)
    leaking = [str(p) for p in files if PASSWORD.encode() in p.read_bytes()]
    assert leaking == []
    assert PASSWORD not in out and PASSWORD not in err
    # the logs still show that a password was sent, masked
    acceptor_log = next((data_dir / "fix" / "acc" / "log").glob("*.messages.log")).read_bytes()
    assert b"\x01554=***\x01" in acceptor_log
    # the stored Logon is still a valid FIX message (QuickFIX parses stored messages on resend)
    body = next((data_dir / "fix" / "ini" / "store").glob("*.body")).read_bytes()
    first = body[: body.index(b"\x0110=") + 1]
    assert b"554=" in first and int(body[len(first) + 3 : len(first) + 6]) == sum(first) % 256

    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in [p for p in data_dir.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_files_left_by_an_older_run_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    log_dir = data_dir / "fix" / "acc" / "log"
    log_dir.mkdir(parents=True)
    old = log_dir / "FIX.4.4-EXCHANGE-GATEWAY.messages.current.log"
    old.write_text("old")
    os.chmod(old, 0o644)
    os.chmod(log_dir, 0o755)
    Engine(Endpoint("acc", "acceptor", data_dir, free_port()), [SessionSpec("EXCHANGE", "GATEWAY")],
           SafeApplication("acceptor"))
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
