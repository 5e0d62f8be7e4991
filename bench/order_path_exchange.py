"""The exchange's own per-order work, in one process: for instruction counts (valgrind) and snapshot costs.

    .venv/bin/python bench/order_path_exchange.py orders N        # N NewOrderSingles through the exchange's code
    valgrind --tool=callgrind .venv/bin/python bench/order_path_exchange.py orders 1200   # and 200: the difference
                                                                   # / 1000 is instructions per order, load-free
    .venv/bin/python bench/order_path_exchange.py snapshot N      # the venue state after N orders, pickled (µs)

``orders``: NewOrderSingles like ``bench/order_path.py``'s (IOC limit, one share, crossing a market maker) handed to
``ExchangeApplication.handle_app_message`` with one owned SessionID (as the bridge does), the journal committer with
fsync off and no snapshot, the reports built and serialised (``toString()`` stands in for ``Session.send``). Not
covered: QuickFIX's engine thread, ``Session.send`` itself, the message log. ``snapshot``: ``apply`` µs per order
and pickling µs per kept order, the minimum of 5 rounds. Run it from the checkout to measure (``sys.path[0]``).
Asserts nothing but that every order got its reports. ADR 032, docs/perf/order-path-exchange.md.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import quickfix as fix  # noqa: E402

from exchange.client_orders import OrderRequest  # noqa: E402
from exchange.durable import DurableVenue  # noqa: E402
from exchange.fix_app import ExchangeApplication  # noqa: E402
from exchange.journal import Journal  # noqa: E402
from exchange.server import select_instruments  # noqa: E402
from exchange.simulation import SimulationConfig  # noqa: E402
from exchange.state import VenueState, apply, fresh_state, new_order_command  # noqa: E402

SYMBOLS = ("AAPL", "MSFT", "INTC", "CSCO", "PEP")
INSTRUMENTS = select_instruments(SYMBOLS)
PRICES = {i.symbol: i.reference_price for i in INSTRUMENTS}


def _fresh() -> VenueState:
    return fresh_state(INSTRUMENTS, SimulationConfig(seed=3, taker_probability=0), 1)


def _order(n: int) -> tuple[str, str, Decimal]:
    symbol, side = SYMBOLS[n % len(SYMBOLS)], "1" if n % 2 == 0 else "2"
    price = (PRICES[symbol] * (Decimal("1.2") if side == "1" else Decimal("0.8"))).quantize(Decimal("0.01"))
    return symbol, side, price


def _frame(seq: int, body: str) -> str:
    payload = f"35=D\x0149=GATEWAY\x0156=EXCHANGE\x0134={seq}\x0152=20261202-16:00:00.000\x01{body}"
    message = f"8=FIX.4.4\x019={len(payload)}\x01{payload}"
    return message + f"10={sum(message.encode()) % 256:03d}\x01"


async def orders(n: int) -> None:
    journal = Journal(Path(tempfile.mkdtemp(prefix="exchange-inproc-")), fsync=False, snapshot_seconds=1e9)
    durable = DurableVenue.open(journal, _fresh).durable
    app = ExchangeApplication(durable, (), asyncio.get_running_loop())
    out: list[str] = []

    def send(session_id: fix.SessionID, message: fix.Message) -> bool:
        out.append(str(message.toString()))
        return True

    app.send = send  # type: ignore[method-assign]
    durable.start()
    app.execute({"op": "run", "run": 1})
    app.execute({"op": "open", "at": "2026-12-02T00:00:00+00:00"})
    session_id = fix.SessionID("FIX.4.4", "EXCHANGE", "GATEWAY")
    texts = []
    for k in range(n):
        symbol, side, price = _order(k)
        texts.append(_frame(k + 2, f"11=GW-{k}\x011=ACC-BENCH1\x0155={symbol}\x0154={side}\x01"
                                    f"60=20261202-16:00:00.000\x0138=1\x0140=2\x0144={price}\x0159=3\x01"))
    started = time.process_time()
    for k, text in enumerate(texts):
        await app.handle_app_message(session_id, fix.Message(text, False))
        if k % 10 == 9:
            await asyncio.sleep(0)  # the committer takes a batch
    await durable.flush()
    elapsed = time.process_time() - started
    await durable.close(snapshot=False)
    assert len(out) >= 2 * n, len(out)
    print(f"{n} orders, {len(out)} reports: {elapsed / max(n, 1) * 1e6:.1f} µs of CPU per order (process time)")


def snapshot(n: int) -> None:
    applies, pickles = [], []
    for _ in range(5):
        state = _fresh()
        apply(state, {"op": "run", "run": 1})
        apply(state, {"op": "open", "at": "2026-12-02T00:00:00+00:00"})
        commands = []
        for k in range(n):
            symbol, side, price = _order(k)
            commands.append(new_order_command("FIX.4.4:EXCHANGE->GATEWAY",
                                              OrderRequest(f"C{k}", symbol, side, "2", "3", Decimal(1), price, None,
                                                           "ACC")))
        started = time.process_time()
        for command in commands:
            apply(state, command)
        applies.append((time.process_time() - started) / n * 1e6)
        started = time.process_time()
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        pickles.append((time.process_time() - started) / n * 1e6)
    print(f"apply {min(applies):.1f} µs per order; pickle {min(pickles):.1f} µs per kept order "
          f"({len(data) / n:.0f} bytes per order); min of 5")


if __name__ == "__main__":
    mode, count = sys.argv[1], int(sys.argv[2])
    if mode == "orders":
        asyncio.run(orders(count))
    else:
        snapshot(count)
