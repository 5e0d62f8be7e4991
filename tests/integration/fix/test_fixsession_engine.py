"""Two fixsession Engines talking over real sockets in one process: an initiator and an acceptor,
plain and over QuickFIX-SSL, with application messages crossing the asyncio bridge both ways."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import pytest
import quickfix as fix

from brokerage.services import free_port
from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.messages import body_value, msg_type
from fixsession.settings import Endpoint, SessionSpec, TlsOptions

pytestmark = pytest.mark.integration


class Recorder(SafeApplication):
    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name, loop)
        self.logged_on = asyncio.Event()
        self.headlines: list[str] = []
        self.done = asyncio.Event()
        self.expected = 0

    def on_logon(self, session_id: fix.SessionID) -> None:
        self.bridge.loop.call_soon_threadsafe(self.logged_on.set)  # type: ignore[union-attr]

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        if msg_type(message) == "B":
            self.headlines.append(body_value(message, 148) or "")
            if len(self.headlines) == self.expected:
                self.done.set()


def news(number: int) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(fix.MsgType("B"))
    message.setField(fix.Headline(f"n{number}"))
    message.setField(fix.LinesOfText(1))  # NoLinesOfText: group below
    group = fix.Group(33, 58)
    group.setField(fix.Text("x"))
    message.addGroup(group)
    return message


def certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "quickfix-ssl"])
async def test_initiator_and_acceptor_exchange_messages_in_order(tmp_path: Path, tls: bool) -> None:
    loop = asyncio.get_running_loop()
    port = free_port()
    venue, member = f"V{uuid.uuid4().hex[:6]}", f"M{uuid.uuid4().hex[:6]}"  # session ids are process-global
    server_tls = client_tls = None
    if tls:
        cert, key = certificate(tmp_path)
        server_tls = TlsOptions(certificate=cert, private_key=key)
        client_tls = TlsOptions(ca_file=cert)
    acceptor_app, initiator_app = Recorder("venue", loop), Recorder("member", loop)
    acceptor = Engine(Endpoint("venue", "acceptor", tmp_path, port, tls=server_tls),
                      [SessionSpec(venue, member)], acceptor_app)
    initiator = Engine(Endpoint("member", "initiator", tmp_path, port, heartbeat_seconds=5, reconnect_seconds=1,
                                tls=client_tls), [SessionSpec(member, venue)], initiator_app)
    acceptor.start()
    initiator.start()
    try:
        await asyncio.wait_for(asyncio.gather(acceptor_app.logged_on.wait(), initiator_app.logged_on.wait()), 20)
        acceptor_app.expected = initiator_app.expected = 200
        to_venue, to_member = fix.SessionID("FIX.4.4", member, venue), fix.SessionID("FIX.4.4", venue, member)
        for number in range(200):  # sent from the event loop thread while the engine threads run
            assert initiator_app.send(to_venue, news(number))
            assert acceptor_app.send(to_member, news(number))
        await asyncio.wait_for(asyncio.gather(acceptor_app.done.wait(), initiator_app.done.wait()), 20)
        assert acceptor_app.headlines == [f"n{i}" for i in range(200)]
        assert initiator_app.headlines == [f"n{i}" for i in range(200)]
        assert acceptor.is_logged_on(fix.SessionID("FIX.4.4", venue, member))
    finally:
        await asyncio.to_thread(initiator.stop)
        await asyncio.to_thread(acceptor.stop)
    # sequence numbers persisted in the FileStore under <data_dir>/fix/<name>/store
    assert any((tmp_path / "fix" / "venue" / "store").glob("*.seqnums"))


async def test_acceptor_port_in_use_raises_instead_of_aborting(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    port = free_port()
    first = Engine(Endpoint("a1", "acceptor", tmp_path, port), [SessionSpec("P1", "Q1")], Recorder("a1", loop))
    first.start()
    try:
        second = Engine(Endpoint("a2", "acceptor", tmp_path, port), [SessionSpec("P2", "Q2")], Recorder("a2", loop))
        with pytest.raises(OSError, match=f"FIX port {port} is not available"):
            second.start()
    finally:
        await asyncio.to_thread(first.stop)
