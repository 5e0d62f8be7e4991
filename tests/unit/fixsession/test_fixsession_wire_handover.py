"""The wire text read on the engine thread for the message log goes with the message to the loop (ADR 037)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

import quickfix as fix

from fixsession.application import SafeApplication
from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber
from fixsession.messages import InboundMessage, message_type, wire_text
from gateway.oms.fix_codec import crack

SID = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")


def _order(cl_ord_id: str) -> fix.Message:
    message = fix.Message(f"35=D\x0111={cl_ord_id}\x0155=AAPL\x0154=1\x0138=1\x0140=1\x0158=a=b\x01", False)
    header = message.getHeader()
    for tag, value in ((8, "FIX.4.4"), (49, "CLIENT1"), (56, "BROKER"), (34, "7")):
        header.setField(tag, value)
    return message


async def test_handed_over_with_its_text_and_read_from_it() -> None:
    received: list[fix.Message] = []

    class App(SafeApplication):
        async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
            received.append(message)

    app = App("wire-test", asyncio.get_running_loop())
    with tempfile.TemporaryDirectory() as directory:
        callbacks = LoggingApplication(app, MessageLog(Path(directory)), StoreScrubber(Path(directory)))
        sent = [_order("A"), _order("B")]
        def engine_thread() -> None:  # the way QuickFIX calls: from its own thread
            for message in sent:
                callbacks.fromApp(message, SID)

        worker = threading.Thread(target=engine_thread)
        worker.start()
        await asyncio.to_thread(worker.join)
        assert app.bridge is not None
        await asyncio.wait_for(app.bridge.join(), 10)
        logged = await asyncio.to_thread(lambda: next(Path(directory).glob("*.messages.log")).read_text())
    assert [type(m) for m in received] == [InboundMessage, InboundMessage]
    for original, copy in zip(sent, received, strict=True):
        assert copy.wire == original.toString() == copy.toString()  # an owned copy, same text
        assert wire_text(copy) == copy.wire and copy.wire in logged
        assert message_type(copy) == "D"
        assert crack(copy) == crack(fix.Message(copy))  # the text or the binding: same fields
    assert crack(received[0])["58"] == "a=b"


def test_without_the_log_wrapper_a_plain_copy() -> None:
    plain = _order("C")
    assert wire_text(plain) == plain.toString() and message_type(plain) == "D"
