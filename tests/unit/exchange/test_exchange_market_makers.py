"""Market makers and the simulated market: depth, spread, skew, determinism."""

from __future__ import annotations

from decimal import Decimal

from exchange.events import BUY, SELL, OrderCanceled, OrderFilled, OrdType, TimeInForce
from exchange.market_makers import QuotingParams, ladder, level_size
from exchange.price_process import PriceProcess
from exchange.simulation import Simulation, SimulationConfig
from exchange.venue import NewOrder
from refdata import Instrument, load_universe
from refdata.instruments import universe_by_symbol

PARAMS = QuotingParams()


def instruments(*symbols: str) -> list[Instrument]:
    by_symbol = universe_by_symbol()
    return [by_symbol[s] for s in symbols]


def test_ladder_is_uncrossed_and_ordered() -> None:
    bids, asks = ladder(10_000.4, 1.0, 0, 500, PARAMS)
    assert len(bids) == len(asks) == PARAMS.levels
    assert bids[0] < 10_000.4 < asks[0]
    assert list(bids) == sorted(bids, reverse=True) and list(asks) == sorted(asks)


def test_spread_widens_with_volatility() -> None:
    calm_bids, calm_asks = ladder(10_000.0, 1.0, 0, 500, PARAMS)
    wild_bids, wild_asks = ladder(10_000.0, 3.0, 0, 500, PARAMS)
    assert wild_asks[0] - wild_bids[0] >= 2 * (calm_asks[0] - calm_bids[0])


def test_quotes_skew_against_inventory() -> None:
    flat = ladder(10_000.0, 1.0, 0, 500, PARAMS)
    long = ladder(10_000.0, 1.0, 3_000, 500, PARAMS)
    short = ladder(10_000.0, 1.0, -3_000, 500, PARAMS)
    assert long[0][0] < flat[0][0] and long[1][0] < flat[1][0]  # long: lower bid and ask
    assert short[0][0] > flat[0][0] and short[1][0] > flat[1][0]
    at_limit = ladder(10_000.0, 1.0, PARAMS.inventory_limit_levels * 500, 500, PARAMS)
    assert at_limit[0] == () and at_limit[1]  # stops buying at the position limit


def test_level_size_by_market_cap() -> None:
    assert level_size(Decimal("2e12"), 1) == 1000
    assert level_size(Decimal("5e10"), 1) == 500
    assert level_size(Decimal("1e9"), 100) == 200


def test_price_process_is_seeded() -> None:
    ref = [("AAA", Decimal("100.00"), Decimal("0.01")), ("BBB", Decimal("20.00"), Decimal("0.01"))]
    a, b, c = PriceProcess(ref, 1), PriceProcess(ref, 1), PriceProcess(ref, 2)
    for _ in range(50):
        for process in (a, b, c):
            process.step()
    assert a["AAA"].ticks == b["AAA"].ticks != c["AAA"].ticks
    assert a["AAA"].ticks != 10_000.0


def test_a_thousand_share_market_order_on_a_large_symbol_fills() -> None:
    sim = Simulation(instruments("AAPL", "MSFT"), SimulationConfig(seed=7))
    sim.open()
    for _ in range(5):
        sim.tick()
    for side in (BUY, SELL):
        events = sim.submit(NewOrder("AAPL", side, OrdType.MARKET, TimeInForce.DAY, Decimal(1000)))
        ours = [e for e in events if isinstance(e, OrderFilled) and e.aggressor]
        assert ours and ours[-1].cum == 1000 and ours[-1].leaves == 0
        assert not any(isinstance(e, OrderCanceled) for e in events)
    sim.venue.engines["AAPL"].check_invariants()


def test_market_makers_refill_after_being_hit_and_track_inventory() -> None:
    sim = Simulation(instruments("AAPL"), SimulationConfig(seed=3, taker_probability=0.0))
    sim.open()
    engine = sim.venue.engines["AAPL"]
    depth_before = sum(q for _, q in engine.book.asks.depth(5))
    sim.submit(NewOrder("AAPL", BUY, OrdType.MARKET, TimeInForce.IOC, Decimal(2500)))
    assert sim.desk.desks["AAPL"].inventory == -2500
    sim.tick()
    depth_after = sum(q for _, q in engine.book.asks.depth(5))
    assert depth_after >= depth_before - 1000  # refilled (and at most a level shy after skewing)
    bid, ask = engine.book.best_bid(), engine.book.best_ask()
    assert bid is not None and ask is not None and bid < ask


def test_same_seed_same_market() -> None:
    def run(seed: int) -> list[object]:
        sim = Simulation(instruments("AAPL", "F", "JPM"), SimulationConfig(seed=seed, taker_probability=0.2))
        out: list[object] = [sorted(sim.open().items())]
        for i in range(30):
            out.append(sorted(sim.tick().items()))
            if i % 10 == 0:
                out.append(sim.submit(NewOrder("JPM", SELL, OrdType.MARKET, TimeInForce.DAY, Decimal(300))))
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_whole_universe_opens_with_two_sided_books() -> None:
    sim = Simulation(load_universe(), SimulationConfig(seed=1))
    sim.open()
    sim.tick()
    for symbol, engine in sim.venue.engines.items():
        bid, ask = engine.book.best_bid(), engine.book.best_ask()
        assert bid is not None and ask is not None and bid < ask, symbol
