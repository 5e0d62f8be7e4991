"""The venue and the FIX link to it, faked: the exchange's real pure code behind a sequenced channel.

* ``FakeExchange``: ``exchange.simulation.Simulation`` (matching engines, market makers, taker flow) and
  ``exchange.client_orders.ClientOrders`` (ClOrdID book-keeping, engine events -> reports), i.e. what
  ``exchange.fix_app`` runs, minus quickfix. Reports are turned into the gateway's ``VenueReport`` /
  ``VenueCancelReject`` exactly as ``gateway.oms.fix_codec.parse_venue_*`` reads the exchange's tags.
* ``ExchangeStream``: the exchange -> gateway session: MsgSeqNum per FIX session day, the exchange's
  message store for resends (PossDup), a wire that may deliver out of order, venue re-reports of an
  ExecID under a new MsgSeqNum, and the daily reset (new day, numbers restart at 1, store cleared).
* ``InboundSession``: the gateway's QuickFIX session for that link: the expected MsgSeqNum and the day
  are durable (QuickFIX's file store, updated on receipt, before the application handles anything); the
  queue of messages that arrived ahead of a gap is in memory. A gap asks the exchange for a resend.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from exchange.client_orders import ChangeRequest, ClientOrders, OrderRequest
from exchange.events import Event
from exchange.reports import CancelReject, ExecIds, ExecReport, Outbound
from exchange.simulation import Simulation, SimulationConfig
from gateway.oms.fix_codec import VenueCancelReject, VenueReport
from marketdata.quotes import Quote
from refdata.instruments import Instrument

SESSION = "FIX.4.4:EXCH->GW"
VenueItem = VenueReport | VenueCancelReject


def to_gateway(item: Outbound) -> VenueItem:
    """What ``fix_codec.parse_venue_report`` / ``parse_venue_cancel_reject`` make of the exchange's message."""
    if isinstance(item, CancelReject):
        return VenueCancelReject(item.cl_ord_id, item.response_to, item.reason, item.text)
    return VenueReport(item.cl_ord_id, item.order_id, item.exec_id, item.exec_type, item.ord_status, item.order_qty,
                       item.price, item.last_qty or Decimal(0), item.last_px or Decimal(0), item.ord_rej_reason,
                       item.text or "")


class FakeExchange:
    def __init__(self, instruments: list[Instrument], seed: int) -> None:
        self.sim = Simulation(instruments, SimulationConfig(seed=seed, taker_probability=0.15))
        self.orders = ClientOrders(self.sim, ExecIds(1))
        self.trades: dict[str, VenueReport] = {}  # every fill reported to the gateway, by venue ExecID
        self._flat(self.sim.open())

    def _flat(self, events: dict[str, list[Event]]) -> list[VenueItem]:
        return self._record(self.orders.reports([e for evs in events.values() for e in evs]))

    def _record(self, outbound: Iterable[Outbound]) -> list[VenueItem]:
        items = [to_gateway(o) for o in outbound]
        for item in items:
            if isinstance(item, VenueReport) and item.exec_type == "F":
                self.trades[item.exec_id] = item
        return items

    def handle(self, msg_type: str, fields: list[tuple[int, str]]) -> list[VenueItem]:
        """A message from the gateway (the tags ``gateway.oms.reports`` builds)."""
        f = dict(fields)

        def dec(tag: int) -> Decimal | None:
            return Decimal(f[tag]) if tag in f else None

        if msg_type == "D":
            req = OrderRequest(f[11], f[55], f[54], f[40], f.get(59, "0"), Decimal(f[38]), dec(44), dec(99), f.get(1))
            return self._record(self.orders.new_order(SESSION, req))
        change = ChangeRequest(f[11], f[41], f[55], f[54], dec(38) if msg_type == "G" else None, dec(44), dec(99),
                               f.get(40) if msg_type == "G" else None, f.get(59) if msg_type == "G" else None)
        if msg_type == "F":
            return self._record(self.orders.cancel(SESSION, change))
        return self._record(self.orders.replace(SESSION, change))

    def tick(self) -> list[VenueItem]:
        return self._flat(self.sim.tick())

    def end_of_day(self) -> list[VenueItem]:
        return self._flat(self.sim.end_of_day())

    def status(self, venue_cl_ord_id: str, symbol: str, side: str) -> VenueReport:
        answer = self.orders.status(SESSION, venue_cl_ord_id, symbol, side)[0]
        assert isinstance(answer, ExecReport)
        return VenueReport(answer.cl_ord_id, answer.order_id, answer.exec_id, answer.exec_type, answer.ord_status,
                           answer.order_qty, answer.price, Decimal(0), Decimal(0), answer.ord_rej_reason,
                           answer.text or "")

    def status_of_order(self, venue_cl_ord_id: str) -> str | None:
        """The venue's OrdStatus of one of our orders (None: never seen)."""
        order = self.orders.by_clordid.get((SESSION, venue_cl_ord_id))
        return None if order is None else order.status

    def quote(self, symbol: str) -> Quote:
        engine = self.sim.venue.engines[symbol]
        tick = self.sim.venue.specs[symbol].tick_size
        bids, asks = engine.book.bids.keys, engine.book.asks.keys
        bid = tick * (bids[-1] * engine.book.bids.sign) if bids else None
        ask = tick * (asks[-1] * engine.book.asks.sign) if asks else None
        last = tick * engine.last_px if engine.last_px is not None else None
        return Quote(symbol, bid=bid, ask=ask, last=last)


@dataclass(frozen=True, slots=True)
class Wire:
    day: int
    seq: int
    item: VenueItem
    poss_dup: bool = False


@dataclass
class ExchangeStream:
    """Exchange -> gateway. The exchange does not crash here; its store keeps the day's messages."""

    rng: random.Random
    day: int = 1
    out_seq: int = 0
    store: dict[int, VenueItem] = field(default_factory=dict)
    wire: list[Wire] = field(default_factory=list)
    connected: bool = True

    def send(self, items: Iterable[VenueItem]) -> None:
        for item in items:
            self.out_seq += 1
            self.store[self.out_seq] = item
            if self.connected:
                self.wire.append(Wire(self.day, self.out_seq, item))

    def resend(self, first: int, last: int) -> None:
        for seq in range(max(first, 1), min(last, self.out_seq) + 1):
            self.wire.append(Wire(self.day, seq, self.store[seq], poss_dup=True))

    def take(self, reorder: bool) -> Wire | None:
        if not self.wire:
            return None
        index = self.rng.randrange(len(self.wire)) if reorder else 0
        return self.wire.pop(index)

    def reset(self) -> None:
        """The session's new day (00:00 UTC, or 141=Y): numbers restart at 1, the store starts empty."""
        self.day += 1
        self.out_seq = 0
        self.store.clear()
        self.wire.clear()


@dataclass
class EngineStore:
    """The gateway's QuickFIX store for the exchange session (survives a crash)."""

    day: int = 1
    expected: int = 1


class InboundSession:
    """Sequence checking of the gateway's exchange session (in memory: messages queued ahead of a gap)."""

    def __init__(self, store: EngineStore, stream: ExchangeStream) -> None:
        self.store = store
        self.stream = stream
        self.ahead: dict[int, VenueItem] = {}
        self.asked = 0  # resend asked up to this number

    def receive(self, wire: Wire) -> list[tuple[int, VenueItem]]:
        """What the application is handed, in MsgSeqNum order (QuickFIX's fromApp calls)."""
        if wire.day != self.store.day:
            return []  # a message of another session day: not this session's stream
        if wire.seq < self.store.expected:
            return []  # already received (a PossDup resend): QuickFIX drops it
        if wire.seq > self.store.expected:
            if wire.seq - 1 > self.asked:
                self.stream.resend(max(self.store.expected, self.asked + 1), wire.seq - 1)
                self.asked = wire.seq - 1
            self.ahead[wire.seq] = wire.item
            return []
        handed = [(wire.seq, wire.item)]
        self.store.expected += 1
        while self.store.expected in self.ahead:
            handed.append((self.store.expected, self.ahead.pop(self.store.expected)))
            self.store.expected += 1
        return handed

    def logon(self) -> None:
        """After a (re)connect the peer's next number shows the gap: ask for the rest at once."""
        if self.store.expected <= self.stream.out_seq:
            self.stream.resend(self.store.expected, self.stream.out_seq)
            self.asked = self.stream.out_seq
