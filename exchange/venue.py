"""The venue: one matching engine per symbol behind a Decimal boundary (pure, no I/O).

Commands arrive with ``Decimal`` prices and quantities; the venue checks the symbol, the tick size and
the lot size, converts to integer ticks and shares, assigns venue order ids and forwards to the
symbol's engine. Bad input becomes an ``OrderRejected`` / ``CancelRejected`` event, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from exchange.events import (
    BUY,
    SELL,
    CancelRejected,
    CancelRejectReason,
    Event,
    OrderRejected,
    OrdType,
    RejectReason,
    TimeInForce,
)
from exchange.matching import MatchingEngine
from refdata import Instrument


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    symbol: str
    tick_size: Decimal
    lot_size: int


@dataclass(frozen=True, slots=True)
class NewOrder:
    symbol: str
    side: int
    ord_type: OrdType
    tif: TimeInForce
    qty: Decimal
    price: Decimal | None = None
    stop_px: Decimal | None = None
    owner: str | None = None  # self-trade prevention key: the FIX account (tag 1); None: not applied
    stp: int = 1  # SelfTradePrevention mode (tag 7940): 1 cancel newest (default), 2 cancel oldest, 3 both
    trail: Decimal | None = None  # trailing stop: the trail distance (PegOffsetValue 211, its magnitude)


class _Invalid(Exception):
    pass


def _ticks(value: Decimal | None, tick: Decimal) -> int | None:
    """Whole ticks in ``value``; raises _Invalid when not positive or off the tick grid."""
    if value is None:
        return None
    try:
        if not value.is_finite() or value <= 0:
            raise _Invalid("non-positive")
        whole, rest = divmod(value, tick)
    except InvalidOperation as exc:
        raise _Invalid(str(exc)) from exc
    if rest:
        raise _Invalid("increment")
    return int(whole)


def _shares(qty: Decimal) -> int | None:
    try:
        if not qty.is_finite() or qty != qty.to_integral_value() or qty <= 0:
            return None
    except InvalidOperation:
        return None
    return int(qty)


class Venue:
    def __init__(self, specs: Iterable[SymbolSpec]) -> None:
        self.specs: dict[str, SymbolSpec] = {s.symbol: s for s in specs}
        self.engines: dict[str, MatchingEngine] = {s: MatchingEngine(spec.lot_size) for s, spec in self.specs.items()}
        self.next_order_id = 0

    @classmethod
    def from_specs(cls, specs: Iterable[tuple[str, Decimal, int]]) -> Venue:
        return cls(SymbolSpec(s, t, lot) for s, t, lot in specs)

    @classmethod
    def from_instruments(cls, instruments: Iterable[Instrument]) -> Venue:
        return cls(SymbolSpec(i.symbol, i.tick_size, i.lot_size) for i in instruments)

    def new_order_id(self) -> int:
        self.next_order_id += 1
        return self.next_order_id

    # Commands ----------------------------------------------------------------------------------
    def submit(self, cmd: NewOrder) -> list[Event]:
        """Events of a new order; the first event's ``order_id`` is the venue's id for it."""
        order_id = self.new_order_id()
        spec = self.specs.get(cmd.symbol)
        if spec is None:
            return [OrderRejected(order_id, RejectReason.UNKNOWN_SYMBOL)]
        if cmd.side not in (BUY, SELL):
            return [OrderRejected(order_id, RejectReason.UNSUPPORTED_ORDER)]
        qty = _shares(cmd.qty)
        if qty is None:
            return [OrderRejected(order_id, RejectReason.INCORRECT_QUANTITY)]
        trailing = cmd.ord_type is OrdType.TRAILING_STOP
        needs_price = cmd.ord_type in (OrdType.LIMIT, OrdType.STOP_LIMIT)
        needs_stop = cmd.ord_type in (OrdType.STOP, OrdType.STOP_LIMIT)
        if needs_price and cmd.price is None:
            return [OrderRejected(order_id, RejectReason.MISSING_PRICE)]
        if needs_stop and cmd.stop_px is None:
            return [OrderRejected(order_id, RejectReason.MISSING_STOP_PRICE)]
        trail = 0
        if trailing:
            try:
                trail = _ticks(abs(cmd.trail) if cmd.trail is not None else None, spec.tick_size) or 0
            except _Invalid:
                trail = 0
            if not trail:
                return [OrderRejected(order_id, RejectReason.INVALID_TRAIL)]
        try:
            price = _ticks(cmd.price, spec.tick_size) if needs_price or trailing else None
            stop_px = _ticks(cmd.stop_px, spec.tick_size) if needs_stop else None
        except _Invalid as exc:
            increment = str(exc) == "increment"
            reason = RejectReason.INVALID_PRICE_INCREMENT if increment else RejectReason.NON_POSITIVE_PRICE
            return [OrderRejected(order_id, reason)]
        return self.engines[cmd.symbol].submit(order_id, cmd.side, cmd.ord_type, cmd.tif, qty, price, stop_px,
                                               owner=cmd.owner, stp=cmd.stp, trail=trail)

    def cancel(self, symbol: str, order_id: int) -> list[Event]:
        engine = self.engines.get(symbol)
        if engine is None:
            return [CancelRejected(order_id, CancelRejectReason.UNKNOWN_ORDER, False)]
        return engine.cancel(order_id)

    def replace(self, symbol: str, order_id: int, qty: Decimal, price: Decimal | None,
                stop_px: Decimal | None) -> list[Event]:
        engine, spec = self.engines.get(symbol), self.specs.get(symbol)
        if engine is None or spec is None:
            return [CancelRejected(order_id, CancelRejectReason.UNKNOWN_ORDER, True)]
        shares = _shares(qty)
        if shares is None:
            return [CancelRejected(order_id, CancelRejectReason.INCORRECT_QUANTITY, True)]
        try:
            price_ticks, stop_ticks = _ticks(price, spec.tick_size), _ticks(stop_px, spec.tick_size)
        except _Invalid:
            return [CancelRejected(order_id, CancelRejectReason.INVALID_PRICE, True)]
        return engine.replace(order_id, shares, price_ticks, stop_ticks)

    def end_of_day(self) -> dict[str, list[Event]]:
        return {symbol: events for symbol, engine in self.engines.items() if (events := engine.end_of_day())}

    # Boundary conversions ----------------------------------------------------------------------
    def price(self, symbol: str, ticks: int) -> Decimal:
        return self.specs[symbol].tick_size * ticks

    def avg_px(self, symbol: str, cum: int, cum_notional: int) -> Decimal:
        """Volume-weighted average fill price, exact to the tick grid's precision plus 6 places."""
        if cum == 0:
            return Decimal(0)
        tick = self.specs[symbol].tick_size
        return (tick * cum_notional / cum).quantize(tick / 1_000_000)
