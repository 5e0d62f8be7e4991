"""A lean FIX 4.4 initiator for benchmarks: it must cost the machine far less than what it measures.

The project's ``fixclient`` is a full session (message objects, inbox, order tickets, persisted sequence
numbers), and the bench shares two cores with what it measures. Here a NewOrderSingle is a
pre-encoded template with a few slots (MsgSeqNum, SendingTime/TransactTime, ClOrdID, the price),
written with one ``transport.write``; the reader cuts frames at ``<SOH>10=NNN<SOH>`` and looks only at
the tags it needs (35, 11, 39, 150, 112) with ``bytes.find``. Session level: Logon with Password(554),
Heartbeat answers to TestRequest, a ResendRequest answered with a SequenceReset (the bench never
re-sends orders), Logout. No sequence checks of inbound messages (QuickFIX on the other side does
those). Not for anything but benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

SOH = b"\x01"
TRAILER = b"\x0110="

OnReport = Callable[[bytes, bytes, bytes], None]  # ClOrdID, ExecType, OrdStatus


def _stamp() -> bytes:
    now = datetime.now(UTC)
    return (now.strftime("%Y%m%d-%H:%M:%S.") + f"{now.microsecond // 1000:03d}").encode()


def _value(frame: bytes, tag: bytes) -> bytes | None:
    start = frame.find(tag)
    if start < 0:
        return None
    start += len(tag)
    return frame[start:frame.index(SOH, start)]


class LeanFix(asyncio.Protocol):
    def __init__(self, sender: str, target: str, password: str, on_report: OnReport) -> None:
        self.sender, self.target, self.password = sender.encode(), target.encode(), password.encode()
        self.on_report = on_report
        self.seq = 0
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.logged_on = asyncio.Event()
        self.logged_out = asyncio.Event()
        self.closed = asyncio.Event()
        self._stamp_ms = -1
        self._stamp = b""
        self._header = b"\x0149=" + self.sender + b"\x0156=" + self.target + b"\x0134="

    @classmethod
    async def connect(cls, host: str, port: int, sender: str, target: str, password: str,
                      on_report: OnReport) -> LeanFix:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: cls(sender, target, password, on_report), host, port)
        await protocol.logon()
        return protocol

    # --- encoding -----------------------------------------------------------------------------------
    def stamp(self) -> bytes:
        ms = int(time.time() * 1000)
        if ms != self._stamp_ms:
            self._stamp_ms, self._stamp = ms, _stamp()
        return self._stamp

    def _send(self, msg_type: bytes, body: bytes) -> None:
        assert self.transport is not None
        self.seq += 1
        payload = b"35=" + msg_type + self._header + str(self.seq).encode() + b"\x0152=" + self.stamp() + SOH + body
        head = b"8=FIX.4.4\x019=" + str(len(payload)).encode() + SOH
        message = head + payload
        self.transport.write(message + b"10=" + f"{sum(message) % 256:03d}".encode() + SOH)

    def new_order(self, cl_ord_id: str, symbol: str, side: str, qty: int, price: str, tif: str = "3",
                  account: bytes = b"") -> None:
        """NewOrderSingle, limit, ``side`` "1"/"2", ``tif`` FIX code (3 = IOC); ``account``: Account (1), or
        none for the session's default account."""
        self._send(b"D", b"11=" + cl_ord_id.encode() + (b"\x011=" + account if account else b"")
                   + b"\x0121=1\x0155=" + symbol.encode() + b"\x0154="
                   + side.encode() + b"\x0160=" + self.stamp() + b"\x0138=" + str(qty).encode() + b"\x0140=2\x0144="
                   + price.encode() + b"\x0159=" + tif.encode() + SOH)

    # --- session --------------------------------------------------------------------------------------
    async def logon(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        self._send(b"A", b"98=0\x01108=30\x01553=" + self.sender + b"\x01554=" + self.password + SOH)
        await asyncio.wait_for(self.logged_on.wait(), timeout)

    async def logout(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        if self.transport is None or self.transport.is_closing():
            return
        self._send(b"5", b"")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.logged_out.wait(), timeout)
        self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.logged_out.set()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        position = 0
        while True:
            trailer = buffer.find(TRAILER, position)
            if trailer < 0 or len(buffer) < trailer + 8:
                break
            end = trailer + 8
            self._frame(buffer[position:end])
            position = end
        self.buffer = buffer[position:]

    def _frame(self, frame: bytes) -> None:
        kind = _value(frame, b"\x0135=")
        if kind == b"8":
            self.on_report(_value(frame, b"\x0111=") or b"", _value(frame, b"\x01150=") or b"",
                           _value(frame, b"\x0139=") or b"")
        elif kind == b"1":
            self._send(b"0", b"112=" + (_value(frame, b"\x01112=") or b"") + SOH)
        elif kind == b"2":  # ResendRequest: nothing worth re-sending; SequenceReset-Reset past this message
            self._send(b"4", b"123=N\x0136=" + str(self.seq + 2).encode() + SOH)
        elif kind == b"A":
            self.logged_on.set()
        elif kind == b"5":
            self.logged_out.set()
