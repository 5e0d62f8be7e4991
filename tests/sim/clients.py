"""Trading clients: each a FIX session that sends orders, cancels and replaces, and reads its reports.

A client picks its next request from what it has been told (its live orders and their current ClOrdIDs).
After the gateway restarts it re-sends, with PossResend (97=Y), every request it got no answer to (its FIX
session would resend them); now and then it reuses a ClOrdID without PossResend (a buggy client).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.oms.fix_codec import CancelCommand, NewOrderCommand, ReplaceCommand
from gateway.oms.model import ClOrdID, OrdStatus, OrdType, Side, TimeInForce
from marketdata.quotes import Quote
from tests.sim.messages import ClientMsg

Command = NewOrderCommand | CancelCommand | ReplaceCommand
_FINAL = {s.value for s in OrdStatus if s.is_terminal}


@dataclass
class OrderView:
    order_id: str
    cl_ord_id: str  # the current one
    symbol: str
    side: Side
    ord_type: OrdType
    qty: Decimal
    status: str = OrdStatus.PENDING_NEW.value


@dataclass
class FakeClient:
    session_id: str
    accounts: tuple[str, ...]
    rng: random.Random
    count: int = 0
    requests: dict[str, Command] = field(default_factory=dict)  # by ClOrdID
    answered: set[str] = field(default_factory=set)
    exec_ids: set[str] = field(default_factory=set)
    orders: dict[str, OrderView] = field(default_factory=dict)  # by OrderID
    final: dict[str, str] = field(default_factory=dict)  # order id -> final OrdStatus received
    duplicates: int = 0
    stops: bool = False  # also send stop orders (buys above the market, sells below)
    shorts: bool = False  # also send short sales (54=5)
    conflicts: list[str] = field(default_factory=list)  # an order told two different final states

    def _id(self) -> ClOrdID:
        self.count += 1
        return ClOrdID(f"{self.session_id}-{self.count}")

    def on_message(self, msg: ClientMsg) -> None:
        if msg.exec_id is not None:
            if msg.exec_id in self.exec_ids:
                self.duplicates += 1
                return
            self.exec_ids.add(msg.exec_id)
        self.answered.add(msg.cl_ord_id)
        if msg.order_id == "NONE":
            return
        view = self.orders.get(msg.order_id)
        if view is None:
            request = self.requests.get(msg.cl_ord_id)
            if not isinstance(request, NewOrderCommand):
                return
            view = self.orders[msg.order_id] = OrderView(msg.order_id, request.cl_ord_id, request.symbol,
                                                         request.side, request.ord_type, request.qty)
        if msg.kind == "8" and msg.exec_type not in ("I", "6", "E"):
            view.cl_ord_id = msg.cl_ord_id
        if msg.kind == "8" and msg.exec_type != "I":
            view.status = msg.ord_status
            if msg.ord_status in _FINAL:
                before = self.final.setdefault(msg.order_id, msg.ord_status)
                if before != msg.ord_status:
                    self.conflicts.append(f"{msg.order_id}: {before} then {msg.ord_status}")

    def next_request(self, quotes: dict[str, Quote]) -> Command:
        rng = self.rng
        live = [v for v in self.orders.values() if v.status not in _FINAL]
        roll = rng.random()
        if live and roll < 0.3:
            view = rng.choice(live)
            if rng.random() < 0.5 or view.ord_type is not OrdType.LIMIT:
                cmd: Command = CancelCommand(self._id(), ClOrdID(view.cl_ord_id), view.symbol, view.side, False)
            else:
                price = self._price(quotes[view.symbol], view.side)
                qty = self._qty()
                cmd = ReplaceCommand(self._id(), ClOrdID(view.cl_ord_id), view.symbol, view.side, qty, price, False)
        elif self.requests and roll < 0.33:  # a buggy client reuses a ClOrdID
            old = self.requests[rng.choice(sorted(self.requests))]
            return old
        else:
            symbol = rng.choice(sorted(quotes))
            side = Side.BUY if rng.random() < 0.55 else Side.SELL
            if self.shorts and side is Side.SELL and rng.random() < 0.4:
                side = Side.SELL_SHORT
            kind = rng.random()
            ord_type = OrdType.MARKET if kind < 0.3 else OrdType.LIMIT
            stop_px = None
            if self.stops and kind > 0.85:
                ord_type = OrdType.STOP
                mark = quotes[symbol].mark or Decimal(50)
                away = Decimal(self.rng.randint(1, 10)) / 1000
                stop_px = (mark * (1 + away if side is Side.BUY else 1 - away)).quantize(Decimal("0.01"))
            tif = rng.choice([TimeInForce.DAY, TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC])
            if ord_type is not OrdType.LIMIT and tif is TimeInForce.GTC:
                tif = TimeInForce.DAY
            limit = self._price(quotes[symbol], side) if ord_type is OrdType.LIMIT else None
            cmd = NewOrderCommand(self._id(), rng.choice(self.accounts), symbol, side, ord_type, tif,
                                  self._qty(), limit, stop_px, False)
        self.requests[cmd.cl_ord_id] = cmd
        return cmd

    def cancel_working(self) -> list[Command]:
        """A cancel for every order this client does not know to be final (the clean-up at the end of a run)."""
        out: list[Command] = []
        for view in self.orders.values():
            if view.status not in _FINAL:
                cmd = CancelCommand(self._id(), ClOrdID(view.cl_ord_id), view.symbol, view.side, False)
                self.requests[cmd.cl_ord_id] = cmd
                out.append(cmd)
        return out

    def _qty(self) -> Decimal:
        """Mostly small; a quarter large enough to sweep several of the market makers' levels (partial fills)."""
        if self.rng.random() < 0.25:
            return Decimal(self.rng.randint(20, 150) * 10)
        return Decimal(self.rng.randint(1, 15) * 10)

    def _price(self, quote: Quote, side: Side) -> Decimal:
        mark = quote.mark or Decimal(50)
        offset = Decimal(self.rng.randint(-30, 30)) / 1000  # ±3%: some cross, some rest
        return (mark * (1 + offset if side is Side.BUY else 1 - offset)).quantize(Decimal("0.01"))

    def unanswered(self) -> list[Command]:
        """Requests to send again after a reconnect, marked PossResend."""
        out: list[Command] = []
        for cl_ord_id, cmd in sorted(self.requests.items()):
            if cl_ord_id not in self.answered:
                out.append(_poss_resend(cmd))
        return out


def _poss_resend(cmd: Command) -> Command:
    from dataclasses import replace
    return replace(cmd, poss_resend=True)
