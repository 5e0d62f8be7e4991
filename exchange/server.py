"""The exchange process: the simulation on an asyncio loop behind a QuickFIX acceptor.

One loop task drives time: every ``md_interval`` it flushes market data increments, every
``step_seconds`` it advances the simulation (fair values, taker flow, requotes), and at each session
close (``close_schedule``: XNYS closes by default, or a daily time) it expires Day orders. FIX messages
reach the same loop through ``fixsession``'s bridge, so all exchange state lives on one thread.

Persistent state, all under ``<data_dir>``:

* ``exchange/journal/``: the venue's write-ahead journal and snapshots (``exchange.journal``). Every
  command (client requests, simulation steps, closes) is logged before its reports go out, and replayed at
  start: books, ClOrdID maps, ExecIDs and the market makers survive ``kill -9``. A close missed while the
  exchange was down is applied at start (Day orders of that day expire then).
* ``fix/exchange/``: QuickFIX stores (sequence numbers, messages for resend), so a restarted exchange
  resumes its sessions.
* ``exchange/run``: the run epoch; each run's new ExecIDs and OrderIDs get their own range.

SIGUSR1 (an operator, or a test) closes the trading day at once: Day orders expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

import structlog
from pydantic import SecretStr

from exchange.durable import DurableVenue
from exchange.fix_app import ExchangeApplication
from exchange.journal import Journal
from exchange.session_close import CloseSchedule
from exchange.simulation import Simulation, SimulationConfig
from exchange.state import ORDER_IDS_PER_RUN, fresh_state
from fixsession.engine import Engine
from fixsession.loopback_guard import guard_acceptor, is_loopback_host
from fixsession.settings import Endpoint, SessionSpec
from refdata import Instrument, load_universe

log = structlog.get_logger(__name__)

__all__ = ["ORDER_IDS_PER_RUN", "ExchangeOptions", "ExchangeServer"]


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
    end_of_day: time | None = None  # UTC daily time; overrides close_schedule
    reset_on_logon: bool = False
    host: str = "127.0.0.1"  # loopback: the acceptor is filtered to 127.0.0.1 sources (QuickFIX binds all)
    close_schedule: CloseSchedule | None = field(default_factory=CloseSchedule)  # None: no expiry
    journal_fsync: bool = True
    snapshot_every: int = 20_000
    snapshot_seconds: float = 30.0
    snapshot_cost_ratio: float = 1.0  # snapshots wait until a replay would cost as much as one (ADR 032)

    @property
    def closes(self) -> CloseSchedule | None:
        return CloseSchedule.daily_at(self.end_of_day) if self.end_of_day is not None else self.close_schedule
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


# A fresh state directory's first run epoch: seconds since this instant. A venue whose state was wiped (a new
# data directory beside a ledger that remembers the old one's ExecIDs) must not hand out the old ExecIDs again:
# the gateway would take its reports for duplicates and drop them.
_FRESH_EPOCH_ORIGIN = 1_767_225_600  # 2026-01-01T00:00:00Z


def next_run_epoch(directory: Path, now: float | None = None) -> int:
    """Increment and return the persisted run counter (written atomically); a fresh directory starts from the
    time (seconds since 2026-01-01), so a wiped venue never reuses an earlier state's ExecIDs or OrderIDs."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "run"
    try:
        run = int(path.read_text().strip()) + 1
    except (FileNotFoundError, ValueError):
        run = max(1, int((datetime.now(UTC).timestamp() if now is None else now) - _FRESH_EPOCH_ORIGIN))
    scratch = path.with_suffix(".tmp")
    scratch.write_text(f"{run}\n")
    os.replace(scratch, path)
    return run


class ExchangeServer:
    def __init__(self, options: ExchangeOptions) -> None:
        self.options = options
        self.sim: Simulation | None = None
        self.app: ExchangeApplication | None = None
        self.engine: Engine | None = None
        self.durable: DurableVenue | None = None
        self._close_now = False

    def request_end_of_day(self) -> None:
        """Close the trading day at the next step (SIGUSR1): Day orders expire."""
        self._close_now = True

    async def run(self, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        o = self.options
        loop = asyncio.get_running_loop()
        instruments = select_instruments(o.symbols)
        state_dir = o.data_dir.resolve() / "exchange"
        run = next_run_epoch(state_dir)
        config = SimulationConfig(seed=o.seed, step_seconds=o.step_seconds, time_scale=o.time_scale,
                                  taker_probability=o.taker_probability)
        journal = Journal(state_dir / "journal", fsync=o.journal_fsync, snapshot_every=o.snapshot_every,
                          snapshot_seconds=o.snapshot_seconds, snapshot_cost_ratio=o.snapshot_cost_ratio)
        started = DurableVenue.open(journal, lambda: fresh_state(instruments, config, run))
        self.durable = durable = started.durable
        self.sim = sim = durable.state.sim
        if started.restored and (set(sim.instruments) != {i.symbol for i in instruments} or sim.config != config):
            log.warning("exchange.options_differ_from_journal", journal_symbols=len(sim.instruments),
                        journal_seed=sim.config.seed, hint="the journal's market is kept; move the journal "
                        "directory away to start a fresh market")
        self.app = app = ExchangeApplication(durable, o.md_comp_ids, loop)
        app.peer_passwords = o.passwords  # a Logon without its peer's password gets Logout 58 (ADR 007)
        durable.start()
        app.execute({"op": "run", "run": run})
        now = datetime.now(UTC)
        carry = 0
        if not started.restored:
            app.execute({"op": "open", "at": now.isoformat()})
            carry = self._restore_legacy_orders(app)
        self._catch_up_close(app, now)
        endpoint = Endpoint(name="exchange", role="acceptor", data_dir=o.data_dir, port=o.port,
                            reset_on_logon=o.reset_on_logon)
        self.engine = engine = Engine(endpoint, o.session_specs(), app)
        engine.start()
        if is_loopback_host(o.host):
            guard_acceptor(o.port)  # QuickFIX has no bind address: drop every non-127.0.0.1 source
        closes = o.closes
        log.info("exchange.started", restored=started.restored, replayed=started.replayed,
                 torn_bytes=started.torn_bytes, carried_over=carry, port=o.port, symbols=len(sim.instruments),
                 seed=sim.config.seed, run=run, open_orders=sum(len(e.book.orders) + len(e.stops)
                                                                for e in sim.venue.engines.values()),
                 session_close=closes.describe() if closes else "never",
                 sessions=[s.target_comp_id for s in o.session_specs()])
        if ready is not None:
            ready()
        gc.freeze()  # start-up's long-lived objects (books, reference data, modules) out of the GC's full sweeps
        try:
            await self._drive(stop)
        finally:
            # commit and send what is buffered while the sessions are still up, stop taking messages, then
            # commit whatever slipped in meanwhile (its reports go by reconciliation) and snapshot
            await durable.flush()
            await asyncio.to_thread(engine.stop)
            await asyncio.sleep(0)
            await durable.close(snapshot=True)
            log.info("exchange.stopped")

    def _catch_up_close(self, app: ExchangeApplication, now: datetime) -> None:
        """A close that passed while the exchange was down is applied now (Day orders of that day expire)."""
        closes, state = self.options.closes, app.durable.state
        if closes is None:
            return
        last = closes.last_at_or_before(now)
        through = datetime.fromisoformat(state.eod_through) if state.eod_through else None
        if last is not None and (through is None or through < last):
            log.info("exchange.end_of_day", close=last.isoformat(), missed=True)
            app.execute({"op": "eod", "at": last.isoformat()})

    def _restore_legacy_orders(self, app: ExchangeApplication) -> int:
        """Open orders written by a pre-journal version at a clean shutdown (``open_orders.json``): entered
        once into a fresh market (as a journaled command), then the file is consumed."""
        path = self.options.data_dir.resolve() / "exchange" / "open_orders.json"
        if not path.exists():
            return 0
        try:
            data = json.loads(path.read_text())
            app.execute({"op": "carry", "data": data})
            count = len(data["orders"])
        except (ValueError, KeyError, TypeError):
            log.exception("exchange.open_orders_unreadable", path=str(path))
            count = 0
        os.replace(path, path.with_suffix(".restored"))
        return count

    async def _drive(self, stop: asyncio.Event) -> None:
        o, app = self.options, self.app
        assert app is not None
        loop = asyncio.get_running_loop()
        next_step = loop.time() + o.step_seconds
        closes = o.closes
        close = closes.next_after(datetime.now(UTC)) if closes else None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=o.md_interval)
            try:
                if loop.time() >= next_step:
                    next_step = max(next_step + o.step_seconds, loop.time())  # never a burst to catch up
                    app.execute({"op": "tick"})
                now = datetime.now(UTC)
                if self._close_now or (close is not None and now >= close):
                    at = now if self._close_now else close
                    assert at is not None
                    log.info("exchange.end_of_day", close=at.isoformat(), requested=self._close_now)
                    self._close_now = False
                    app.execute({"op": "eod", "at": at.isoformat()})
                    close = closes.next_after(max(now, at)) if closes else None
                app.flush_market_data()
            except Exception:  # a bug in one step must not take the venue down
                log.exception("exchange.step_failed")
