"""Where inbound messages and session events wait for whoever asks: reports by ClOrdID, predicates,
async iterators. No sockets here; the client feeds it and closes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from fixclient import events as ev
from fixclient.errors import SessionClosed
from fixclient.messages import ExecutionReport, InboundMessage, OrderCancelReject

__all__ = ["Inbox"]

log = logging.getLogger(__name__)

HISTORY = 10_000  # inbound application messages (and session events) kept for late readers
TRACKED_ORDERS = 100_000  # ClOrdIDs whose unread reports are kept

Key = tuple[str, str]  # (MsgType, ClOrdID)
Report = ExecutionReport | OrderCancelReject


class Inbox:
    def __init__(self) -> None:
        self.history: deque[InboundMessage] = deque(maxlen=HISTORY)
        self.events: deque[ev.SessionEvent] = deque(maxlen=HISTORY)
        self.closed_reason: str | None = None
        self._reports: dict[Key, deque[Report]] = {}
        self._waiters: dict[Key, asyncio.Future[None]] = {}
        self._subscribers: list[tuple[asyncio.Queue[InboundMessage | None], bool]] = []
        self._event_subscribers: list[asyncio.Queue[ev.SessionEvent | None]] = []

    # -- feeding ------------------------------------------------------------------------------------
    def admin(self, msg: InboundMessage) -> None:
        """A session-level message, for subscribers that asked to see them."""
        for queue, include_admin in self._subscribers:
            if include_admin:
                queue.put_nowait(msg)

    def event(self, event: ev.SessionEvent) -> None:
        self.events.append(event)
        for queue in self._event_subscribers:
            queue.put_nowait(event)

    def deliver(self, msg: InboundMessage) -> None:
        """An application message (or a session Reject): history, subscribers, and the report queues."""
        self.history.append(msg)
        for queue, _ in self._subscribers:
            queue.put_nowait(msg)
        cl_ord_id = msg.get(11)
        if msg.msg_type not in ("8", "9") or cl_ord_id is None:
            return
        try:
            typed = ExecutionReport.from_message(msg) if msg.msg_type == "8" else OrderCancelReject.from_message(msg)
        except ValueError as exc:
            log.warning("unreadable %s for ClOrdID %s kept raw only: %s", msg.msg_type, cl_ord_id, exc)
            return
        key = (msg.msg_type, cl_ord_id)
        self._reports.setdefault(key, deque()).append(typed)
        if len(self._reports) > TRACKED_ORDERS:
            del self._reports[next(iter(self._reports))]
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, reason: str) -> None:
        """Wake every reader: iterators end, waits raise SessionClosed."""
        self.closed_reason = reason
        for queue, _ in self._subscribers:
            queue.put_nowait(None)
        for events in self._event_subscribers:
            events.put_nowait(None)
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    # -- reading ------------------------------------------------------------------------------------
    async def next_report(self, key: Key, timeout: float) -> Report:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            queue = self._reports.get(key)
            if queue:
                item = queue.popleft()
                if not queue:
                    del self._reports[key]
                return item
            if self.closed:
                raise SessionClosed(self.closed_reason)
            remaining = deadline - loop.time()
            if remaining <= 0:
                what = "ExecutionReport" if key[0] == "8" else "OrderCancelReject"
                raise TimeoutError(f"no {what} for ClOrdID {key[1]} within {timeout}s")
            waiter = self._waiters.get(key)
            if waiter is None or waiter.done():
                waiter = self._waiters[key] = loop.create_future()
            with contextlib.suppress(TimeoutError):
                # shield: one caller timing out or being cancelled must not cancel a shared waiter
                await asyncio.wait_for(asyncio.shield(waiter), remaining)

    async def wait_for(self, predicate: Callable[[InboundMessage], bool], timeout: float,  # noqa: ASYNC109
                       include_history: bool, include_admin: bool) -> InboundMessage:
        queue: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        entry = (queue, include_admin)
        self._subscribers.append(entry)
        try:
            if include_history:
                for seen in self.history:
                    if predicate(seen):
                        return seen
            if self.closed:
                raise SessionClosed(self.closed_reason)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                msg: InboundMessage | None
                try:
                    msg = await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise TimeoutError(f"no matching message within {timeout}s") from None
                if msg is None:
                    raise SessionClosed(self.closed_reason)
                if predicate(msg):
                    return msg
        finally:
            self._subscribers.remove(entry)

    async def messages(self, include_admin: bool) -> AsyncIterator[InboundMessage]:
        queue: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        entry = (queue, include_admin)
        self._subscribers.append(entry)
        try:
            while not (self.closed and queue.empty()):
                msg = await queue.get()
                if msg is None:
                    return
                yield msg
        finally:
            self._subscribers.remove(entry)

    async def session_events(self) -> AsyncIterator[ev.SessionEvent]:
        queue: asyncio.Queue[ev.SessionEvent | None] = asyncio.Queue()
        self._event_subscribers.append(queue)
        try:
            while not (self.closed and queue.empty()):
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._event_subscribers.remove(queue)
