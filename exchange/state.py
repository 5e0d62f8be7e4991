"""The exchange's whole state and the commands that change it (pure: no I/O, no clock).

Everything the venue knows -- the books of every symbol (resting and parked stop orders, GTC and Day),
the market makers' desks, the seeded fair values and their random generators, the sessions' ClOrdID maps
and the ExecIDs already used -- lives in one ``VenueState``. It changes only through ``apply(state,
command)``, where a command is a small JSON-ready dict: a client request (``D``/``F``/``G``/``H``), a
simulation step (``tick``), the session close (``eod``), the first quotes (``open``), a restart (``run``)
or a clean-shutdown carry-over (``carry``). The simulation is deterministic, so applying the same commands
to the same state gives the same state and the same reports, with the same ExecIDs: that is what makes the
journal (``exchange.journal``) enough to rebuild the venue after a crash. Wall-clock instants that matter
(the close an ``eod`` stands for) travel inside the command, never read here.

Market-maker quotes and taker flow are therefore *replayed*, not journaled one by one: a ``tick`` record is
a few bytes and re-running it re-generates the very same quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from exchange import carry_over
from exchange.client_orders import ChangeRequest, ClientOrders, OrderRequest
from exchange.events import Event
from exchange.reports import ExecIds, Outbound
from exchange.simulation import Simulation, SimulationConfig
from refdata import Instrument

ORDER_IDS_PER_RUN = 1_000_000_000

Command = dict[str, Any]


@dataclass
class VenueState:
    orders: ClientOrders  # holds the simulation (venue, engines, desks, fair values)
    eod_through: str | None = None  # ISO UTC instant of the last session close applied
    applied: int = 0  # commands applied since the state was created

    @property
    def sim(self) -> Simulation:
        return self.orders.sim


@dataclass
class Result:
    outbound: list[Outbound] = field(default_factory=list)  # reports for FIX sessions, in order
    changed: set[str] = field(default_factory=set)  # symbols whose book may have moved


def fresh_state(instruments: Sequence[Instrument], config: SimulationConfig, run: int) -> VenueState:
    return VenueState(ClientOrders(Simulation(instruments, config), ExecIds(run)))


# Commands: JSON-ready dicts --------------------------------------------------------------------------
def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def new_order_command(session: str, r: OrderRequest) -> Command:
    return {"op": "D", "s": session, "id": r.cl_ord_id, "sym": r.symbol, "side": r.side, "type": r.ord_type,
            "tif": r.time_in_force, "qty": str(r.qty), "px": _dec(r.price), "stop": _dec(r.stop_px),
            "acct": r.account, **_order_type_fields(r)}


def _order_type_fields(r: OrderRequest) -> Command:
    """Trailing-stop and self-trade-prevention fields, only when sent (older journal records have none)."""
    return {k: v for k, v in (("inst", r.exec_inst), ("peg", _dec(r.peg_offset)), ("stp", r.stp)) if v is not None}


def change_command(session: str, r: ChangeRequest, is_replace: bool) -> Command:
    return {"op": "G" if is_replace else "F", "s": session, "id": r.cl_ord_id, "orig": r.orig_cl_ord_id,
            "sym": r.symbol, "side": r.side, "qty": _dec(r.qty), "px": _dec(r.price), "stop": _dec(r.stop_px),
            "type": r.ord_type, "tif": r.time_in_force}


def status_command(session: str, cl_ord_id: str, symbol: str, side: str) -> Command:
    return {"op": "H", "s": session, "id": cl_ord_id, "sym": symbol, "side": side}


def _flat(events: dict[str, list[Event]]) -> list[Event]:
    return [e for symbol_events in events.values() for e in symbol_events]


def apply(state: VenueState, command: Command) -> Result:
    """Apply one command; the reports it causes and the symbols it touched. Unknown ops raise ValueError."""
    orders, sim, op = state.orders, state.orders.sim, command["op"]
    result = Result()
    if op == "D":
        request = OrderRequest(command["id"], command["sym"], command["side"], command["type"], command["tif"],
                               Decimal(command["qty"]), _undec(command["px"]), _undec(command["stop"]),
                               command["acct"], command.get("inst"), _undec(command.get("peg")), command.get("stp"))
        result.changed.add(request.symbol)
        result.outbound = orders.new_order(command["s"], request)
    elif op in ("F", "G"):
        change = ChangeRequest(command["id"], command["orig"], command["sym"], command["side"],
                               _undec(command["qty"]), _undec(command["px"]), _undec(command["stop"]),
                               command["type"], command["tif"])
        result.changed.add(change.symbol)
        handler = orders.replace if op == "G" else orders.cancel
        result.outbound = handler(command["s"], change)
    elif op == "H":
        result.outbound = orders.status(command["s"], command["id"], command["sym"], command["side"])
    elif op in ("tick", "eod", "open"):
        if op == "tick":
            events = sim.tick()
        elif op == "eod":
            events = sim.end_of_day()
            state.eod_through = command["at"]
        else:
            events = sim.open()
            state.eod_through = command.get("at", state.eod_through)  # no earlier close concerns this market
        result.changed.update(events)
        result.outbound = orders.reports(_flat(events))
    elif op == "run":
        # a (re)start: ExecIDs of this run get its own prefix, its OrderIDs its own range, so ids stay unique
        # even if the journal were lost; what was restored keeps the ids it had
        run = int(command["run"])
        orders.exec_ids = ExecIds(run)
        sim.venue.next_order_id = max(sim.venue.next_order_id, run * ORDER_IDS_PER_RUN)
    elif op == "carry":
        result.outbound = carry_over.restore(orders, command["data"])
        result.changed.update(r["request"]["symbol"] for r in command["data"]["orders"])
    else:
        raise ValueError(f"unknown exchange command {op!r}")
    state.applied += 1
    return result


def fingerprint(state: VenueState) -> dict[str, Any]:
    """A comparable summary of everything that matters in ``state`` (for tests and the start-up log)."""
    sim, orders = state.sim, state.orders
    books = {}
    for symbol, engine in sim.venue.engines.items():
        resting = sorted((o.order_id, o.side, o.ord_type, o.tif, o.price, o.stop_px, o.qty, o.leaves, o.cum,
                          o.notional, o.seq) for o in engine.book.orders.values())
        stops = sorted((o.order_id, o.side, o.ord_type, o.tif, o.price, o.stop_px, o.qty, o.leaves, o.cum, o.seq)
                       for o in engine.stops.values())
        waiting = sorted((o.order_id, o.trail, o.owner, o.stp, o.leaves, o.seq)
                         for o in [*engine.trailing.values(), *engine.close_orders.values()])
        books[symbol] = {"resting": resting, "stops": stops, "waiting": waiting,
                         "last": (engine.last_px, engine.last_qty),
                         "volume": engine.volume, "seq": engine.seq, "match_id": engine.match_id}
    return {
        "books": books,
        "fair": {s: (fv.ticks, fv.realized_var, fv.turbulent) for s, fv in sim.prices.values.items()},
        "rng": (sim.prices.rng.getstate(), sim.taker_rng.getstate()),
        "desks": {s: (d.inventory, sorted(d.quotes)) for s, d in sim.desk.desks.items()},
        "client_orders": sorted((o.session, o.order_id, o.cl_ord_id, o.status, str(o.cum), str(o.leaves),
                                 str(o.qty)) for o in orders.by_id.values()),
        "clordids": sorted((s, c, o.order_id) for (s, c), o in orders.by_clordid.items()),
        "exec_ids": (orders.exec_ids.prefix, orders.exec_ids.count),
        "fills": {oid: [r.exec_id for r in rs] for oid, rs in sorted(orders.fills.items())},
        "next_order_id": sim.venue.next_order_id, "steps": sim.steps, "eod_through": state.eod_through,
    }
