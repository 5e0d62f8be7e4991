"""The loop's copy of an inbound application message keeps the wire text the message log read on the engine
thread, so the loop's readers (``msg_type``, the order path's and the exchange's ``crack``, ``printable``) make
no call into the binding for it (each such call releases the GIL and may hand it to a QuickFIX thread)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import quickfix as fix

from exchange import fix_codec as exchange_codec
from fixsession.application import SafeApplication
from fixsession.bridge import InboundBridge
from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber
from fixsession.messages import keep_text, msg_type, printable, wire_text
from gateway.oms import fix_codec as gateway_codec

SID = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")


def _new_order() -> fix.Message:
    return fix.Message("8=FIX.4.4\x019=5\x0135=D\x0134=2\x0149=CLIENT1\x0156=BROKER\x0111=C1\x011=ACC\x01"
                       "55=AAPL\x0154=1\x0138=1\x0140=2\x0144=190.12\x0159=3\x0110=000\x01", False)


class _Collect(SafeApplication):
    def __init__(self) -> None:
        super().__init__("gateway", asyncio.get_running_loop())
        self.got: list[fix.Message] = []

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        self.got.append(message)


@pytest.fixture()
def to_string_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """How many times ``Message.toString`` was called from now on."""
    calls = [0]
    real = fix.Message.toString

    def counted(self: fix.Message, *args: object) -> object:
        calls[0] += 1
        return real(self, *args)

    monkeypatch.setattr(fix.Message, "toString", counted)
    yield lambda: calls[0]


async def test_the_loops_copy_keeps_the_text_the_log_read(tmp_path: Path,
                                                         to_string_calls: Callable[[], int]) -> None:
    inner = _Collect()
    app = LoggingApplication(inner, MessageLog(tmp_path), StoreScrubber(tmp_path))
    app.fromApp(_new_order(), SID)
    assert inner.bridge is not None
    await inner.bridge.join()
    assert to_string_calls() == 1  # the log's read, on the engine thread: nothing more to give the loop its text
    [copy] = inner.got
    assert msg_type(copy) == "D"
    fields = gateway_codec.crack(copy)
    assert (fields["11"], fields["44"], fields["35"]) == ("C1", "190.12", "D")
    assert exchange_codec.kind(exchange_codec.crack(copy)) == "D"
    assert "|11=C1|" in printable(copy)
    assert to_string_calls() == 1  # the loop read it four times, none of them through the binding
    assert wire_text(copy) == str(fix.Message.toString(copy))  # and what it kept is the copy's own text


async def test_a_copy_without_a_kept_text_is_read_through_the_binding(to_string_calls: Callable[[], int]) -> None:
    """Without a text (a caller that had none) the readers fall back to ``toString``: same answers."""
    got: list[fix.Message] = []
    bridge = InboundBridge(asyncio.get_running_loop(), lambda sid, message: got.append(message))
    bridge.submit(SID, _new_order())
    await bridge.join()
    [copy] = got
    assert msg_type(copy) == "D" and gateway_codec.crack(copy)["11"] == "C1"
    assert to_string_calls() == 2


def test_kept_text_is_what_the_readers_see() -> None:
    message = _new_order()
    keep_text(message, "8=FIX.4.4\x019=5\x0135=F\x0110=000\x01")
    assert msg_type(message) == "F" and gateway_codec.crack(message)["35"] == "F"
