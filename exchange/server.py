"""The exchange process: the simulation on an asyncio loop behind a QuickFIX acceptor.

One loop task drives time: every ``md_interval`` it flushes market data increments, every
``step_seconds`` it advances the simulation (fair values, taker flow, requotes), and once a day at
``end_of_day`` (UTC, optional) it expires Day orders. FIX messages reach the same loop through
``fixsession``'s bridge, so all exchange state lives on one thread.

Persistent state: QuickFIX stores (sequence numbers, messages for resend) under
``<data_dir>/fix/exchange/`` (the layout of ``fixsession``), so a restarted exchange resumes its
sessions; the run epoch in ``<data_dir>/exchange/run`` keeps ExecIDs unique across restarts. The
market itself starts afresh at each run; the sessions' open orders survive a clean shutdown through
``<data_dir>/exchange/open_orders.json`` (see ``exchange.carry_over``) but not a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import structlog
from pydantic import SecretStr

from exchange import carry_over
from exchange.fix_app import ExchangeApplication
from exchange.simulation import Simulation, SimulationConfig
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec
from refdata import Instrument, load_universe

log = structlog.get_logger(__name__)

ORDER_IDS_PER_RUN = 1_000_000_000


@dataclass(frozen=True)
class ExchangeOptions:
    port: int
    data_dir: Path
    seed: int = 42
    symbols: tuple[str, ...] | None = None  # None: the whole universe
    comp_id: str = "EXCHANGE"
    order_comp_ids: tuple[str, ...] = ("GATEWAY",)
    md_comp_ids: tuple[str, ...] = ("MDFEED",)
    step_seconds: float = 0.5
    md_interval: float = 0.1
    time_scale: float = 1.0
    taker_probability: float = 0.02
    end_of_day: time | None = None  # UTC
    reset_on_logon: bool = False
    passwords: Mapping[str, SecretStr] | None = None  # peer CompID -> Password (554); None: no check

    def session_specs(self) -> list[SessionSpec]:
        peers = dict.fromkeys((*self.order_comp_ids, *self.md_comp_ids))
        return [SessionSpec(self.comp_id, peer) for peer in peers]


def select_instruments(symbols: Sequence[str] | None) -> list[Instrument]:
    universe = load_universe()
    if not symbols:
        return list(universe)
    wanted = {s.strip().upper() for s in symbols if s.strip()}
    chosen = [i for i in universe if i.symbol in wanted]
    missing = wanted - {i.symbol for i in chosen}
    if missing:
        raise ValueError(f"not in the instrument universe: {', '.join(sorted(missing))}")
    return chosen


def next_run_epoch(directory: Path) -> int:
    """Increment and return the persisted run counter (written atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "run"
    try:
        run = int(path.read_text().strip()) + 1
    except (FileNotFoundError, ValueError):
        run = 1
    scratch = path.with_suffix(".tmp")
    scratch.write_text(f"{run}\n")
    os.replace(scratch, path)
    return run


def next_end_of_day(now: datetime, at: time) -> datetime:
    candidate = datetime.combine(now.date(), at, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)


class ExchangeServer:
    def __init__(self, options: ExchangeOptions) -> None:
        self.options = options
        self.sim: Simulation | None = None
        self.app: ExchangeApplication | None = None
        self.engine: Engine | None = None

    async def run(self, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        o = self.options
        loop = asyncio.get_running_loop()
        instruments = select_instruments(o.symbols)
        run = next_run_epoch(o.data_dir.resolve() / "exchange")
        self.sim = sim = Simulation(instruments, SimulationConfig(
            seed=o.seed, step_seconds=o.step_seconds, time_scale=o.time_scale,
            taker_probability=o.taker_probability))
        # OrderIDs unique across runs too (a crash loses the books but not the gateway's memory of ids)
        sim.venue.next_order_id = run * ORDER_IDS_PER_RUN
        self.app = app = ExchangeApplication(sim, run, o.md_comp_ids, loop)
        app.peer_passwords = o.passwords  # a Logon without its peer's password gets Logout 58 (ADR 007)
        app.on_market_events(sim.open())
        endpoint = Endpoint(name="exchange", role="acceptor", data_dir=o.data_dir, port=o.port,
                            reset_on_logon=o.reset_on_logon)
        self.engine = engine = Engine(endpoint, o.session_specs(), app)
        engine.start()
        carry = self._restore_orders()
        log.info("exchange.started", restored=carry, port=o.port, symbols=len(instruments), seed=o.seed, run=run,
                 sessions=[s.target_comp_id for s in o.session_specs()])
        if ready is not None:
            ready()
        try:
            await self._drive(stop)
        finally:
            self._save_orders()
            await asyncio.to_thread(engine.stop)
            log.info("exchange.stopped")

    @property
    def carry_over_path(self) -> Path:
        return self.options.data_dir.resolve() / "exchange" / "open_orders.json"

    def _save_orders(self) -> None:
        assert self.app is not None
        data = carry_over.open_orders(self.app.orders)
        scratch = self.carry_over_path.with_suffix(".tmp")
        scratch.write_text(json.dumps(data, indent=1))
        os.replace(scratch, self.carry_over_path)
        log.info("exchange.open_orders_saved", orders=len(data["orders"]))

    def _restore_orders(self) -> int:
        """Re-enter the open orders of the last clean shutdown, then consume the file."""
        assert self.app is not None
        path = self.carry_over_path
        if not path.exists():
            return 0
        try:
            data = json.loads(path.read_text())
            self.app.deliver(carry_over.restore(self.app.orders, data))
            count = len(data["orders"])
        except (ValueError, KeyError, TypeError):
            log.exception("exchange.open_orders_unreadable", path=str(path))
            count = 0
        os.replace(path, path.with_suffix(".restored"))  # never restore the same orders twice
        return count

    async def _drive(self, stop: asyncio.Event) -> None:
        o, sim, app = self.options, self.sim, self.app
        assert sim is not None and app is not None
        loop = asyncio.get_running_loop()
        next_step = loop.time() + o.step_seconds
        eod = next_end_of_day(datetime.now(UTC), o.end_of_day) if o.end_of_day else None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=o.md_interval)
            try:
                if loop.time() >= next_step:
                    next_step = max(next_step + o.step_seconds, loop.time())  # never a burst to catch up
                    app.on_market_events(sim.tick())
                if eod is not None and datetime.now(UTC) >= eod:
                    log.info("exchange.end_of_day")
                    app.on_market_events(sim.end_of_day())
                    eod += timedelta(days=1)
                app.flush_market_data()
            except Exception:  # a bug in one step must not take the venue down
                log.exception("exchange.step_failed")
