"""The simulated market, assembled: venue + seeded fair values + market makers + a little taker flow.

Still pure (no I/O, no clock): the server calls ``tick()`` on a timer and the client commands in
between. Given the same seed, instruments and sequence of calls it produces the same events.
Taker flow (small market orders from a seeded noise trader) keeps last-trade prices moving.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from exchange.events import BUY, SELL, Event, OrdType, TimeInForce
from exchange.market_makers import MarketMakerDesk, QuotingParams, level_size
from exchange.price_process import PriceProcess
from exchange.venue import NewOrder, Venue
from refdata import Instrument

SymbolEvents = dict[str, list[Event]]


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 42
    step_seconds: float = 0.5
    time_scale: float = 1.0
    taker_probability: float = 0.02  # per symbol per step
    quoting: QuotingParams = field(default_factory=QuotingParams)


class Simulation:
    def __init__(self, instruments: Sequence[Instrument], config: SimulationConfig | None = None) -> None:
        self.config = config or SimulationConfig()
        self.instruments = {i.symbol: i for i in sorted(instruments, key=lambda i: i.symbol)}
        self.venue = Venue.from_instruments(self.instruments.values())
        self.prices = PriceProcess(
            ((i.symbol, i.reference_price, i.tick_size) for i in self.instruments.values()),
            self.config.seed, self.config.step_seconds, self.config.time_scale)
        sizes = {i.symbol: level_size(i.market_cap, i.lot_size) for i in self.instruments.values()}
        self.desk = MarketMakerDesk(self.venue, self.prices, sizes, self.config.quoting)
        self.taker_rng = random.Random(f"{self.config.seed}:takers")
        self.steps = 0

    # The market's own activity --------------------------------------------------------------------
    def open(self) -> SymbolEvents:
        """Post every market maker's initial ladder."""
        return {s: ev for s in self.instruments if (ev := self.desk.requote(s))}

    def tick(self) -> SymbolEvents:
        """One simulation step: move fair values, let takers trade, requote."""
        self.steps += 1
        self.prices.step()
        out: SymbolEvents = {}
        rng, venue, p = self.taker_rng, self.venue, self.config.taker_probability
        for symbol, instrument in self.instruments.items():
            events: list[Event] = []
            if rng.random() < p:
                side = BUY if rng.random() < 0.5 else SELL
                qty = instrument.lot_size * rng.randint(1, 3) * max(1, 100 // instrument.lot_size)
                taken = venue.engines[symbol].submit(venue.new_order_id(), side, OrdType.MARKET, TimeInForce.IOC, qty)
                self.desk.observe(taken)
                events += taken
            events += self.desk.requote(symbol)
            if events:
                out[symbol] = events
        return out

    # Client commands --------------------------------------------------------------------------
    def submit(self, order: NewOrder) -> list[Event]:
        events = self.venue.submit(order)
        self.desk.observe(events)
        return events

    def cancel(self, symbol: str, order_id: int) -> list[Event]:
        events = self.venue.cancel(symbol, order_id)
        self.desk.observe(events)
        return events

    def replace(self, symbol: str, order_id: int, qty: Decimal, price: Decimal | None,
                stop_px: Decimal | None) -> list[Event]:
        events = self.venue.replace(symbol, order_id, qty, price, stop_px)
        self.desk.observe(events)
        return events

    def end_of_day(self) -> SymbolEvents:
        """Expire Day orders everywhere (the market makers' GTC quotes stay)."""
        out = self.venue.end_of_day()
        for events in out.values():
            self.desk.observe(events)
        return out
