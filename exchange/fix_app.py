"""The exchange's FIX 4.4 application: order entry and market data for its acceptor sessions.

In: NewOrderSingle (D), OrderCancelRequest (F), OrderCancelReplaceRequest (G), OrderStatusRequest (H)
from order-entry sessions (the gateway); MarketDataRequest (V) from any session. Out:
ExecutionReport (8), OrderCancelReject (9), MarketDataSnapshotFullRefresh (W), MarketDataIncremental-
Refresh (X), MarketDataRequestReject (Y); a field that cannot be read gets a session Reject (3), a
message type we do not serve or an order from a market-data-only session a BusinessMessageReject (j).

QuickFIX callbacks only copy messages onto the event loop (``fixsession.SafeApplication``); every
piece of exchange state is touched on the loop alone, so the simulation needs no locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import quickfix as fix
import structlog

from exchange import fix_codec
from exchange.durable import DurableVenue
from exchange.fix_codec import Malformed
from exchange.market_data import MarketData, MdReject
from exchange.reports import CancelReject, ExecReport, Outbound
from exchange.state import Command, Result, change_command, new_order_command, status_command
from fixsession.application import SafeApplication
from fixsession.messages import printable, session_key
from fixsession.rejects import (
    APPLICATION_NOT_AVAILABLE,
    NOT_AUTHORIZED,
    VALUE_IS_INCORRECT,
    business_reject,
    session_reject,
    unsupported_message_type,
)

log = structlog.get_logger(__name__)

ORDER_TYPES = frozenset({"D", "F", "G", "H"})


class ExchangeApplication(SafeApplication):
    def __init__(self, durable: DurableVenue, md_only_comp_ids: Iterable[str] = (),
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__("exchange", loop)
        self.durable = durable
        self.sim = durable.state.sim
        self.orders = durable.state.orders
        self.market_data = MarketData(self.sim)
        self.md_only = frozenset(md_only_comp_ids)
        self._md_only_by_key: dict[str, bool] = {}
        self.sessions: dict[str, fix.SessionID] = {}
        self._keys: dict[int, tuple[fix.SessionID, str]] = {}  # id(SessionID) -> (it, its key)
        self.changed: set[str] = set()  # symbols whose book or last trade moved since the last flush
        self.loop = loop

    # Engine thread -----------------------------------------------------------------------------
    def on_logon(self, session_id: fix.SessionID) -> None:
        log.info("exchange.session_logon", session=session_key(session_id))

    def on_logout(self, session_id: fix.SessionID) -> None:
        key = session_key(session_id)
        log.info("exchange.session_logout", session=key)
        if self.loop is not None:
            # Subscriptions end with the session; a reconnecting client subscribes again.
            self.loop.call_soon_threadsafe(self.market_data.drop_session, key)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        super().attach(loop)
        self.loop = loop

    # Event loop --------------------------------------------------------------------------------
    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        key = self._session_key(session_id)
        self.sessions[key] = session_id
        try:
            cracked = fix_codec.crack(message)  # one call into the binding; every field read from it
            kind = fix_codec.kind(cracked)
            if kind in ORDER_TYPES and self._market_data_only(key, session_id):
                self.send(session_id, business_reject(message, NOT_AUTHORIZED,
                                                      "this session may only request market data"))
            elif kind == "D":
                self.execute(new_order_command(key, fix_codec.order_request(cracked)))
            elif kind in ("F", "G"):
                self.execute(change_command(key, fix_codec.change_request(cracked, kind == "G"), kind == "G"))
            elif kind == "H":
                self.execute(status_command(key, fix_codec.req_text(cracked, 11), fix_codec.req_text(cracked, 55),
                                            fix_codec.req_text(cracked, 54)))
            elif kind == "V":
                self._market_data_request(key, session_id, message)
            else:
                self.send(session_id, unsupported_message_type(message))
        except Malformed as exc:
            log.info("exchange.malformed", session=key, tag=exc.tag, reason=exc.reason, message=printable(message))
            self.send(session_id, session_reject(message, VALUE_IS_INCORRECT, exc.reason, exc.tag))
        except Exception:
            log.exception("exchange.message_failed", session=key, message=printable(message))
            self.send(session_id, business_reject(message, APPLICATION_NOT_AVAILABLE,
                                                  "the exchange could not process this message"))

    def _session_key(self, session_id: fix.SessionID) -> str:
        """The session's text key, read through the binding once per SessionID object: the bridge hands each
        session's messages with one owned SessionID (the entry holds it, so its ``id`` is not reused)."""
        entry = self._keys.get(id(session_id))
        if entry is None or entry[0] is not session_id:
            if len(self._keys) >= 1024:  # only callers that make a SessionID per message get here often
                self._keys.clear()
            entry = self._keys[id(session_id)] = (session_id, session_key(session_id))
        return entry[1]

    def _market_data_only(self, key: str, session_id: fix.SessionID) -> bool:
        """Whether the session may only request market data (looked up once per session, not per order)."""
        known = self._md_only_by_key.get(key)
        if known is None:
            known = self._md_only_by_key[key] = session_id.getTargetCompID().getValue() in self.md_only
        return known

    def _market_data_request(self, key: str, session_id: fix.SessionID, message: fix.Message) -> None:
        req_id, request_type, depth, types, symbols = fix_codec.md_request(message)
        result = self.market_data.subscribe(key, req_id, request_type, depth, types, symbols)
        if isinstance(result, MdReject):
            log.info("exchange.md_reject", session=key, req_id=req_id, reason=result.text)
            self.send(session_id, fix_codec.md_reject(result))
            return
        for symbol, entries in result:
            self.send(session_id, fix_codec.snapshot(req_id, symbol, entries))

    def execute(self, command: Command) -> Result:
        """Apply a command to the venue (journaled); its reports go out once the journal has it on disk."""
        result = self.durable.execute(command, self._deliver_result)
        self.changed.update(result.changed)
        return result

    def _deliver_result(self, result: Result) -> None:
        self.deliver(result.outbound)

    def flush_market_data(self) -> int:
        """Send one 35=X per subscription with changes; returns how many were sent."""
        if not self.changed:
            return 0
        sent = 0
        for sub, entries in self.market_data.flush(self.changed):
            session_id = self.sessions.get(sub.session)
            if session_id is not None and self.send(session_id, fix_codec.incremental(sub.req_id, entries)):
                sent += 1
        self.changed.clear()
        return sent

    def deliver(self, outbound: list[Outbound]) -> None:
        for item in outbound:
            session_id = self.sessions.get(item.session)
            if session_id is None:
                session_id = fix.SessionID()  # the order's session, not seen since a restart
                session_id.fromString(item.session)
                self.sessions[item.session] = session_id
            if isinstance(item, ExecReport):
                self.send(session_id, fix_codec.execution_report(item))
            elif isinstance(item, CancelReject):
                self.send(session_id, fix_codec.cancel_reject(item))
