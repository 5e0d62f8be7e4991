"""`FixClient`: the asyncio face of the session state machine (sockets, timers, waiting for reports).

The client never parses bytes or decides protocol questions itself: it feeds frames and clock ticks to
:class:`fixclient.session.Session` and carries out the returned :class:`Output` (write, deliver, close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Self

from fixclient import events as ev
from fixclient.codec import Frame, FrameReader, GarbledFrame
from fixclient.errors import FixError, LogonRejected, SessionClosed
from fixclient.inbox import Inbox
from fixclient.messages import (
    ExecutionReport,
    InboundMessage,
    OrderCancelReject,
    OrderTicket,
    cancel_body,
    market_data_request_body,
    new_order_single_body,
    replace_body,
    status_body,
    ticket,
)
from fixclient.session import ADMIN_TYPES, Output, ResendMode, Session, SessionConfig, SessionState
from fixclient.store import SeqNums, SeqNumStore

__all__ = ["FixClient", "FixError", "LogonRejected", "SessionClosed"]

log = logging.getLogger(__name__)
# The public waits take `timeout=` (like asyncpg's API) rather than asking callers for asyncio.timeout
# blocks: a test reads `await client.next_execution_report(id, timeout=2)`. Hence the ASYNC109 waivers.

TRACKED_ORDERS = 100_000  # orders whose terms are remembered for cancel/replace/status


class FixClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session: Session,
                 store: SeqNumStore | None = None) -> None:
        self.session = session
        self._reader = reader
        self._writer = writer
        self._store = store
        self._frames = FrameReader()
        self._outbox: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self.last_app_seq_num: int | None = None  # MsgSeqNum of the last application message sent
        self.inbox = Inbox()
        self.history = self.inbox.history  # inbound application messages, oldest first (bounded)
        self.events = self.inbox.events  # session events, oldest first (bounded)
        self._closed = asyncio.Event()
        self._logged_on = asyncio.Event()
        self._orders: dict[str, OrderTicket] = {}
        self._id_prefix = _base36(int(time.time() * 1000)).upper()
        self._id_counter = 0
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._timer_loop())]

    @classmethod
    async def connect(cls, host: str, port: int, sender_comp_id: str, target_comp_id: str, *,
                      password: str | None = None, username: str | None = None, heartbeat: int = 30,
                      ssl_context: ssl.SSLContext | None = None, reset_seq_num: bool = False,
                      store_path: Path | str | None = None, resend_mode: ResendMode = ResendMode.REPLAY,
                      connect_timeout: float = 10.0) -> Self:
        """Open the TCP (or TLS) connection; call :meth:`logon` next."""
        config = SessionConfig(sender_comp_id, target_comp_id, heartbeat, username, password, reset_seq_num,
                               resend_mode=resend_mode)
        store = SeqNumStore(store_path) if store_path is not None else None
        saved = store.load() if store is not None and not reset_seq_num else None
        session = Session(config, saved.next_sender, saved.next_target) if saved else Session(config)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ssl_context),
                                                connect_timeout)
        return cls(reader, writer, session, store)

    # -- session lifecycle ----------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    async def logon(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Send Logon and wait for the acceptor's Logon; raises LogonRejected if it answers Logout."""
        self._apply(self.session.start_logon(self._loop.time()))
        await self._drain()
        await self._until(self._logged_on, timeout, "Logon reply")

    async def logout(self, text: str | None = None, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Send Logout, wait for the acceptor's Logout (or the timeout), close the connection."""
        if self.session.state is SessionState.ACTIVE:
            self._apply(self.session.start_logout(self._loop.time(), text))
            with contextlib.suppress(TimeoutError, ConnectionError):
                await self._drain()
                await asyncio.wait_for(self._closed.wait(), timeout)
        await self.close()

    async def close(self, reason: str = "closed by the client") -> None:
        """Drop the connection without Logout (tests use it to simulate a crash)."""
        self._shutdown(reason)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def wait_closed(self) -> None:
        """Return when the session has ended (see :attr:`closed_reason`)."""
        await self._closed.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.logout()

    # -- sending ----------------------------------------------------------------------------------
    async def send(self, msg_type: str, body: list[tuple[int, object]]) -> int:
        """Send an application message; returns its MsgSeqNum."""
        self._check_open()
        seq = self.session.next_sender_seq_num
        self._write(self.session.send_app(msg_type, body, self._loop.time()))
        self.last_app_seq_num = seq
        await self._drain()
        return seq

    async def send_raw(self, data: bytes, consumes_seq_num: bool = False) -> None:
        """Write bytes exactly as given (malformed-input tests). Set ``consumes_seq_num`` when they carry
        the next MsgSeqNum (see :attr:`next_sender_seq_num`) so later messages stay in sequence."""
        self._check_open()
        if consumes_seq_num:
            self.session.consume_sender_seq_num(self._loop.time())
        self._write(data)
        self._save_seq_nums()
        await self._drain()

    @property
    def next_sender_seq_num(self) -> int:
        return self.session.next_sender_seq_num

    @property
    def next_target_seq_num(self) -> int:
        return self.session.next_target_seq_num

    def order_ticket(self, cl_ord_id: str) -> OrderTicket | None:
        """The terms of an order (or replacement) this client sent, if it still remembers them."""
        return self._orders.get(cl_ord_id)

    def new_cl_ord_id(self) -> str:
        self._id_counter += 1
        return f"{self._id_prefix}-{self._id_counter}"

    async def new_order_single(self, symbol: str, side: str, qty: Decimal | int | str, ord_type: str = "2",
                               price: Decimal | int | str | None = None, stop_px: Decimal | int | str | None = None,
                               tif: str = "0", account: str | None = None, cl_ord_id: str | None = None) -> str:
        """Send NewOrderSingle (35=D); side/ord_type/tif take FIX codes or names ("buy", "limit", "ioc").
        Returns the ClOrdID."""
        t = ticket(symbol, side, qty, ord_type, price, stop_px, tif, account)
        cl_ord_id = cl_ord_id or self.new_cl_ord_id()
        await self.send("D", new_order_single_body(cl_ord_id, t, datetime.now(UTC)))
        self._remember(cl_ord_id, t)
        return cl_ord_id

    async def cancel(self, orig_cl_ord_id: str, *, cl_ord_id: str | None = None, symbol: str | None = None,
                     side: str | None = None, qty: Decimal | int | str | None = None) -> str:
        """Send OrderCancelRequest (35=F). Terms default to those of the order we sent."""
        known = self._orders.get(orig_cl_ord_id)
        symbol, side = self._instrument(orig_cl_ord_id, symbol, side)
        qty = Decimal(str(qty)) if qty is not None else known.qty if known else None
        account = known.account if known else None
        cl_ord_id = cl_ord_id or self.new_cl_ord_id()
        await self.send("F", cancel_body(cl_ord_id, orig_cl_ord_id, symbol, side, qty, account, datetime.now(UTC)))
        return cl_ord_id

    async def replace(self, orig_cl_ord_id: str, *, qty: Decimal | int | str | None = None,
                      price: Decimal | int | str | None = None, cl_ord_id: str | None = None,
                      symbol: str | None = None, side: str | None = None, ord_type: str | None = None,
                      tif: str | None = None) -> str:
        """Send OrderCancelReplaceRequest (35=G) changing quantity and/or price."""
        old = self._orders.get(orig_cl_ord_id)
        symbol, side = self._instrument(orig_cl_ord_id, symbol, side)
        qty = qty if qty is not None else old.qty if old else None
        if qty is None:
            raise ValueError(f"unknown ClOrdID {orig_cl_ord_id!r}: pass qty= explicitly")
        t = ticket(symbol, side, qty, ord_type or (old.ord_type if old else "2"),
                   price if price is not None else old.price if old else None, old.stop_px if old else None,
                   tif or (old.tif if old else "0"), old.account if old else None)
        cl_ord_id = cl_ord_id or self.new_cl_ord_id()
        await self.send("G", replace_body(cl_ord_id, orig_cl_ord_id, t, datetime.now(UTC)))
        self._remember(cl_ord_id, t)
        return cl_ord_id

    async def order_status(self, cl_ord_id: str, *, symbol: str | None = None, side: str | None = None,
                           order_id: str | None = None) -> None:
        """Send OrderStatusRequest (35=H); the answer is an ExecutionReport with ExecType I."""
        symbol, side = self._instrument(cl_ord_id, symbol, side)
        await self.send("H", status_body(cl_ord_id, symbol, side, order_id))

    async def market_data_request(self, symbols: list[str], *, subscribe: bool = True, depth: int = 1,
                                  entry_types: tuple[str, ...] = ("0", "1"), md_req_id: str | None = None) -> str:
        """Send MarketDataRequest (35=V); returns the MDReqID."""
        md_req_id = md_req_id or f"MD-{self.new_cl_ord_id()}"
        await self.send("V", market_data_request_body(md_req_id, symbols, subscribe, depth, entry_types))
        return md_req_id

    # -- receiving --------------------------------------------------------------------------------
    async def next_execution_report(self, cl_ord_id: str, timeout: float = 10.0) -> ExecutionReport:  # noqa: ASYNC109
        """The next unread ExecutionReport whose ClOrdID(11) is ``cl_ord_id`` (waits for it)."""
        report = await self.inbox.next_report(("8", cl_ord_id), timeout)
        assert isinstance(report, ExecutionReport)
        return report

    async def next_cancel_reject(self, cl_ord_id: str, timeout: float = 10.0) -> OrderCancelReject:  # noqa: ASYNC109
        """The next unread OrderCancelReject for our cancel/replace request ``cl_ord_id``."""
        reject = await self.inbox.next_report(("9", cl_ord_id), timeout)
        assert isinstance(reject, OrderCancelReject)
        return reject

    async def wait_for(self, predicate: Callable[[InboundMessage], bool],
                       timeout: float = 10.0, *, include_history: bool = True,  # noqa: ASYNC109
                       include_admin: bool = False) -> InboundMessage:
        """The first inbound message satisfying ``predicate``: already received (within the kept
        history, application messages only) unless ``include_history`` is False, or arriving later."""
        return await self.inbox.wait_for(predicate, timeout, include_history, include_admin)

    def messages(self, include_admin: bool = False) -> AsyncIterator[InboundMessage]:
        """Inbound messages from now on, in order; ends when the session closes."""
        return self.inbox.messages(include_admin)

    def session_events(self) -> AsyncIterator[ev.SessionEvent]:
        """Session events from now on (heartbeats, gaps, logout...); ends when the session closes."""
        return self.inbox.session_events()

    @property
    def closed_reason(self) -> str | None:
        return self.inbox.closed_reason

    # -- internals --------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while not self.is_closed:
                data = await self._reader.read(65536)
                if not data:
                    self._shutdown("connection closed by the peer")
                    return
                for item in self._frames.feed(data):
                    now = self._loop.time()
                    if isinstance(item, GarbledFrame):
                        log.warning("garbled FIX frame ignored: %s", item.reason)
                        self._apply(self.session.on_garbled(item))
                    else:
                        self._on_frame(item, now)
                    if self.is_closed:
                        return
        except (ConnectionError, OSError) as exc:
            self._shutdown(f"connection lost: {exc}")
        except Exception as exc:  # our own bug: end the session loudly rather than leave waiters hanging
            log.exception("fixclient reader failed")
            self._shutdown(f"fixclient internal error: {exc!r}")

    def _on_frame(self, frame: Frame, now: float) -> None:
        if frame.msg_type in ADMIN_TYPES and frame.msg_type != "3":
            self.inbox.admin(InboundMessage.from_frame(frame))
        self._apply(self.session.on_frame(frame, now))

    async def _timer_loop(self) -> None:
        while not self.is_closed:
            deadline = self.session.next_deadline()
            now = self._loop.time()
            await asyncio.sleep(0.2 if deadline is None else min(max(deadline - now, 0.0), 0.5))
            if deadline is not None and self._loop.time() >= deadline and not self.is_closed:
                try:
                    self._apply(self.session.on_timer(self._loop.time()))
                except Exception as exc:  # our own bug, as in the reader
                    log.exception("fixclient timer failed")
                    self._shutdown(f"fixclient internal error: {exc!r}")

    def _apply(self, out: Output) -> None:
        if out.outgoing:
            self._write(b"".join(out.outgoing))
        for event in out.events:
            self.inbox.event(event)
            if isinstance(event, ev.LoggedOn):
                self._logged_on.set()
        for frame in out.app:
            self.inbox.deliver(InboundMessage.from_frame(frame))
        self._save_seq_nums()
        if out.disconnect is not None:
            self._shutdown(out.disconnect)

    async def _until(self, flag: asyncio.Event, timeout: float, what: str) -> None:  # noqa: ASYNC109
        closed = asyncio.ensure_future(self._closed.wait())
        done = asyncio.ensure_future(flag.wait())
        try:
            await asyncio.wait({closed, done}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            done.cancel()
        if flag.is_set():
            return
        if self.is_closed:
            reason = self.closed_reason or "closed"
            if any(isinstance(e, ev.LoggedOut) and e.initiated_by_peer for e in self.events):
                raise LogonRejected(reason)
            raise SessionClosed(reason)
        raise TimeoutError(f"no {what} within {timeout}s")

    def _write(self, data: bytes) -> None:
        """Queue bytes for the socket; everything written in one loop iteration goes in one send()
        (pipelined orders and reports otherwise cost a syscall each)."""
        self._outbox.append(data)
        if len(self._outbox) == 1:
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._outbox and not self._writer.is_closing():
            self._writer.write(b"".join(self._outbox))
        self._outbox.clear()

    async def _drain(self) -> None:
        """Wait only when the socket pushes back (the kernel buffer is full)."""
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._shutdown(f"connection lost: {exc}")
            raise SessionClosed(self.closed_reason or "closed") from exc

    def _check_open(self) -> None:
        if self.is_closed:
            raise SessionClosed(self.closed_reason or "closed")

    def _save_seq_nums(self) -> None:
        if self._store is not None:
            self._store.save(SeqNums(self.session.next_sender_seq_num, self.session.next_target_seq_num))

    def _shutdown(self, reason: str) -> None:
        if self.is_closed:
            return
        self._flush()  # a Logout or Reject decided just before closing still goes out
        self.session.on_disconnected()
        self._save_seq_nums()
        self.inbox.close(reason)
        self._closed.set()
        self._writer.close()

    def _remember(self, cl_ord_id: str, t: OrderTicket) -> None:
        self._orders[cl_ord_id] = t
        if len(self._orders) > TRACKED_ORDERS:
            del self._orders[next(iter(self._orders))]

    def _instrument(self, cl_ord_id: str, symbol: str | None, side: str | None) -> tuple[str, str]:
        """Symbol and side for a follow-up request: given, or those of the order we sent."""
        known = self._orders.get(cl_ord_id)
        symbol = symbol or (known.symbol if known else None)
        side = side or (known.side if known else None)
        if symbol is None or side is None:
            raise ValueError(f"unknown ClOrdID {cl_ord_id!r}: pass symbol= and side= explicitly")
        return symbol, side


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
    return out or "0"
