"""QuickFIX's engine threads keep one Python thread state for their lifetime (ADR 046): the callbacks of one
engine thread share it instead of each building and tearing down a new one."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import pytest
import quickfix as fix

from brokerage.services import free_port
from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec

pytestmark = pytest.mark.integration

MESSAGES = 20


class StateProbe(SafeApplication):
    """Counts, in a ``threading.local`` (kept in the thread state), the inbound messages its thread has seen."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__("probe", loop)
        self.local = threading.local()
        self.seen: list[tuple[int, int]] = []  # (thread ident, messages this thread state had seen)
        self.logged_on = asyncio.Event()
        self.done = asyncio.Event()

    def on_logon(self, session_id: fix.SessionID) -> None:
        self.bridge.loop.call_soon_threadsafe(self.logged_on.set)  # type: ignore[union-attr]

    def on_app_in(self, message: fix.Message, session_id: fix.SessionID, key: str | None = None,
                  text: str | None = None) -> None:
        self.local.count = getattr(self.local, "count", 0) + 1
        self.seen.append((threading.get_ident(), self.local.count))
        if len(self.seen) == MESSAGES:
            self.bridge.loop.call_soon_threadsafe(self.done.set)  # type: ignore[union-attr]


def news(number: int) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(fix.MsgType("B"))
    message.setField(fix.Headline(f"n{number}"))
    message.setField(fix.LinesOfText(1))  # required group
    group = fix.Group(33, 58)
    group.setField(fix.Text("x"))
    message.addGroup(group)
    return message


async def test_an_engine_thread_keeps_its_thread_state_across_callbacks(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    port = free_port()
    venue, member = f"V{uuid.uuid4().hex[:6]}", f"M{uuid.uuid4().hex[:6]}"  # session ids are process-global
    acceptor_app, initiator_app = StateProbe(loop), StateProbe(loop)
    acceptor = Engine(Endpoint("venue", "acceptor", tmp_path, port), [SessionSpec(venue, member)], acceptor_app)
    initiator = Engine(Endpoint("member", "initiator", tmp_path, port, reconnect_seconds=1),
                       [SessionSpec(member, venue)], initiator_app)
    acceptor.start()
    initiator.start()
    try:
        await asyncio.wait_for(asyncio.gather(acceptor_app.logged_on.wait(), initiator_app.logged_on.wait()), 20)
        to_venue = fix.SessionID("FIX.4.4", member, venue)
        for number in range(MESSAGES):
            assert initiator_app.send(to_venue, news(number))
            await asyncio.sleep(0.001)  # one callback each, not one packet
        await asyncio.wait_for(acceptor_app.done.wait(), 20)
    finally:
        await asyncio.to_thread(initiator.stop)
        await asyncio.to_thread(acceptor.stop)
    threads = {ident for ident, _ in acceptor_app.seen}
    assert len(threads) == 1 and threads != {threading.get_ident()}  # QuickFIX's thread, not the loop's
    # a fresh thread state per callback would start every count at 1
    assert [count for _, count in acceptor_app.seen] == list(range(1, MESSAGES + 1))
