"""A real FIX 4.4 acceptor (QuickFIX, validating against FIX44.xml) that answers orders with
ExecutionReports: the counterparty the light client is tested against.

QuickFIX calls back on its own threads. An exception escaping a callback aborts the process in the
1.15.1 bindings, so every callback catches everything and records it in ``errors`` for the test to check.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import quickfix as fix

REPO = Path(__file__).resolve().parents[3]
_CANDIDATES = [REPO / "fix_specs" / "FIX44.xml", Path("/work/shared/external/quickfix-acceptance/FIX44.xml")]
DATA_DICTIONARY = next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[0])


def _text(message: fix.Message) -> str:
    return str(message.toString()).replace("\x01", "|")


@dataclass
class Seen:
    """Everything the acceptor received, as readable strings, plus callback errors."""

    admin: list[str] = field(default_factory=list)
    app: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # application messages the acceptor sent
    errors: list[str] = field(default_factory=list)
    logons: int = 0
    logouts: int = 0


class EchoApplication(fix.Application):  # type: ignore[misc]
    def __init__(self, password: str | None) -> None:
        super().__init__()
        self.password = password
        self.seen = Seen()
        self.session_id: fix.SessionID | None = None
        self._exec_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.hold_reports = False  # when True, orders are recorded but not answered

    def _guard(self, what: str, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:  # never let an exception reach QuickFIX (it would abort)
            self.seen.errors.append(f"{what}: {type(exc).__name__}: {exc}")

    def onCreate(self, session_id: fix.SessionID) -> None:
        self.session_id = session_id

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.seen.logons += 1

    def onLogout(self, session_id: fix.SessionID) -> None:
        self.seen.logouts += 1

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        def body() -> None:
            text = _text(message)
            self.seen.admin.append(text)
            if "|35=A|" in text and self.password is not None and _field(text, "554") != self.password:
                self._refuse_logon(session_id, "invalid password")
        self._guard("fromAdmin", body)

    def _refuse_logon(self, session_id: fix.SessionID, text: str) -> None:
        """Logout instead of a Logon reply, then hang up. Raising RejectLogon would be the QuickFIX
        way, but any exception leaving a callback aborts the process with these bindings."""
        logout = fix.Message()
        logout.getHeader().setField(8, "FIX.4.4")
        logout.getHeader().setField(35, "5")
        logout.setField(58, text)
        fix.Session.sendToTarget(logout, session_id)
        fix.Session.lookupSession(session_id).disconnect()

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self._guard("toApp", lambda: self.seen.sent.append(_text(message)))

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self._guard("fromApp", lambda: self._answer(message, session_id))

    def _answer(self, message: fix.Message, session_id: fix.SessionID) -> None:
        text = _text(message)
        self.seen.app.append(text)
        if self.hold_reports:
            return
        msg_type = _field(text, "35")
        cl_ord_id = _field(text, "11") or "?"
        qty = _field(text, "38") or "0"
        exec_type = {"D": "0", "F": "4", "G": "5", "H": "I"}.get(msg_type or "")
        if exec_type is None:
            return
        report = fix.Message()
        header = report.getHeader()
        header.setField(8, "FIX.4.4")
        header.setField(35, "8")
        with self._lock:
            exec_id = f"E{next(self._exec_ids)}"
        fields = [(37, f"O-{_field(text, '41') or cl_ord_id}"), (11, cl_ord_id), (17, exec_id),
                  (150, exec_type), (39, exec_type if exec_type != "I" else "0"), (55, _field(text, "55") or "?"),
                  (54, _field(text, "54") or "1"), (151, "0" if exec_type == "4" else qty), (14, "0"), (6, "0")]
        if _field(text, "41"):
            fields.append((41, _field(text, "41") or ""))
        for tag, value in fields:
            report.setField(tag, value)
        fix.Session.sendToTarget(report, session_id)


def _field(text: str, tag: str) -> str | None:
    for pair in text.split("|"):
        if pair.startswith(tag + "="):
            return pair[len(tag) + 1:]
    return None


class EchoAcceptor:
    """Runs the QuickFIX acceptor for one session BROKER <- CLIENT1 on ``port``."""

    def __init__(self, base: Path, port: int, password: str | None = "demo1", sender: str = "BROKER",
                 target: str = "CLIENT1") -> None:
        self.port = port
        self.app = EchoApplication(password)
        base.mkdir(parents=True, exist_ok=True)
        cfg = base / "acceptor.cfg"
        cfg.write_text(
            "[DEFAULT]\n"
            "ConnectionType=acceptor\n"
            f"SocketAcceptPort={port}\n"
            "StartTime=00:00:00\nEndTime=00:00:00\n"
            "UseDataDictionary=Y\n"
            f"DataDictionary={DATA_DICTIONARY}\n"
            f"FileStorePath={base / 'store'}\n"
            "ValidateUserDefinedFields=N\n"
            "[SESSION]\n"
            "BeginString=FIX.4.4\n"
            f"SenderCompID={sender}\nTargetCompID={target}\n"
        )
        settings = fix.SessionSettings(str(cfg))
        self._acceptor: fix.SocketAcceptor | None = fix.SocketAcceptor(self.app, fix.FileStoreFactory(settings),
                                                                        settings)

    def start(self) -> None:
        assert self._acceptor is not None, "stopped acceptors cannot restart; make a new one"
        self._acceptor.start()

    def stop(self) -> None:
        """Stop and destroy the acceptor. QuickFIX keeps a process-wide registry of sessions by
        SessionID, and a stopped acceptor's sessions stay registered until the acceptor is destroyed:
        the next acceptor's ``sendToTarget`` would then reach the dead session."""
        if self._acceptor is None:
            return
        self._acceptor.stop(True)
        self._acceptor = None
        gc.collect()
        session_id = self.app.session_id
        if session_id is not None and fix.Session.doesSessionExist(session_id):
            self.app.seen.errors.append("session still registered after the acceptor stopped")

    @property
    def session(self) -> fix.Session:
        return fix.Session.lookupSession(self.app.session_id)

    def send(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        message = fix.Message()
        message.getHeader().setField(8, "FIX.4.4")
        message.getHeader().setField(35, msg_type)
        for tag, value in fields:
            message.setField(tag, value)
        fix.Session.sendToTarget(message, self.app.session_id)

    def skip_sender_seq_nums(self, count: int) -> None:
        """Make the next outgoing message jump ahead: the client must see a gap."""
        session = self.session
        session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + count)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Poll a condition on acceptor state (it changes on QuickFIX threads) without blocking the loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            await asyncio.sleep(0.02)
        return condition()
