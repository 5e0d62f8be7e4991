"""The exchange journal: replaying snapshot + log rebuilds exactly the state the live venue had (books, stops,
ClOrdID maps, ExecIDs, market makers, fair values), whatever the cut: a crash with records unwritten, a torn
last record, snapshots in between. The day's close expires Day orders and is replayed too."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.durable import DurableVenue
from exchange.journal import Journal, decode, encode
from exchange.reports import ExecReport, ExecType
from exchange.session_close import CloseSchedule
from exchange.simulation import SimulationConfig
from exchange.state import Command, VenueState, fingerprint, fresh_state
from refdata.instruments import universe_by_symbol

GW = "FIX.4.4:EXCHANGE->GATEWAY"
SYMBOLS = ("AAPL", "F")


def fresh() -> VenueState:
    by_symbol = universe_by_symbol()
    return fresh_state([by_symbol[s] for s in SYMBOLS], SimulationConfig(seed=5, taker_probability=0.3), 1)


def commands(seed: int, n: int) -> list[Command]:
    """A random but valid-looking stream: orders of every type and TIF near the market, cancels, replaces,
    status requests, simulation steps and a close now and then."""
    rng = random.Random(seed)
    out: list[Command] = [{"op": "run", "run": 1}, {"op": "open", "at": "2026-01-05T00:00:00+00:00"}]
    ids: list[tuple[str, str]] = []
    mid = {"AAPL": Decimal("190"), "F": Decimal("12")}
    for i in range(n):
        roll = rng.random()
        if roll < 0.45:
            sym = rng.choice(SYMBOLS)
            side = rng.choice("12")
            ord_type = rng.choice("1223344")
            tif = rng.choice("00113" if ord_type != "1" else "03")
            offset = Decimal(rng.randint(-40, 40)) / 100
            px = mid[sym] + offset if ord_type in "24" else None
            stop = mid[sym] + (Decimal("0.3") if side == "1" else Decimal("-0.3")) + offset / 4 \
                if ord_type in "34" else None
            cl = f"c{i}"
            ids.append((cl, sym))
            out.append({"op": "D", "s": GW, "id": cl, "sym": sym, "side": side, "type": ord_type, "tif": tif,
                        "qty": str(rng.randint(1, 30) * 100), "px": None if px is None else str(px),
                        "stop": None if stop is None else str(stop), "acct": "A1"})
        elif roll < 0.55 and ids:
            cl, sym = rng.choice(ids)
            out.append({"op": "F", "s": GW, "id": f"x{i}", "orig": cl, "sym": sym, "side": "1", "qty": None,
                        "px": None, "stop": None, "type": None, "tif": None})
        elif roll < 0.62 and ids:
            cl, sym = rng.choice(ids)
            out.append({"op": "G", "s": GW, "id": f"r{i}", "orig": cl, "sym": sym, "side": rng.choice("12"),
                        "qty": str(rng.randint(1, 40) * 100), "px": str(mid[sym] + Decimal(rng.randint(-30, 30)) / 100),
                        "stop": None, "type": None, "tif": None})
        elif roll < 0.67 and ids:
            cl, sym = rng.choice(ids)
            out.append({"op": "H", "s": GW, "id": cl, "sym": sym, "side": "1"})
        elif roll < 0.69:
            out.append({"op": "eod", "at": f"2026-01-05T21:{i % 60:02d}:00+00:00"})
        else:
            out.append({"op": "tick"})
    return out


def live_run(path: Path, stream: list[Command], *, snapshot_every: int, commit_upto: int) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Run ``stream`` through a journaled venue, committing only the first ``commit_upto`` commands (the rest
    stay buffered: a kill -9). Returns (fingerprint after the committed ones, fingerprint at the end)."""
    started = DurableVenue.open(Journal(path, fsync=False, snapshot_every=snapshot_every), fresh)
    durable = started.durable
    assert not started.restored
    committed = fingerprint(durable.state)
    for i, command in enumerate(stream):
        durable.execute(command)
        if i < commit_upto:
            durable.journal.commit_now()
            if durable.journal.snapshot_due:
                durable.journal.snapshot_now(durable.state)
            committed = fingerprint(durable.state)
    return committed, fingerprint(durable.state)


def recover(path: Path) -> tuple[bool, dict]:  # type: ignore[type-arg]
    started = DurableVenue.open(Journal(path, fsync=False), fresh)
    for engine in started.durable.state.sim.venue.engines.values():
        engine.check_invariants()
    return started.restored, fingerprint(started.durable.state)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), snapshot_every=st.sampled_from([7, 50, 100_000]),
       cut=st.floats(0.0, 1.0))
def test_replay_rebuilds_exactly_what_was_committed(tmp_path: Path, seed: int, snapshot_every: int,
                                                   cut: float) -> None:
    path = tmp_path / f"j-{seed}-{snapshot_every}-{cut}"
    stream = commands(seed, 250)
    committed, _ = live_run(path, stream, snapshot_every=snapshot_every, commit_upto=int(len(stream) * cut))
    restored, again = recover(path)
    assert restored
    assert again == committed


def test_replay_after_a_full_run_equals_the_live_state_and_a_snapshot_bounds_the_log(tmp_path: Path) -> None:
    stream = commands(3, 400)
    _, live = live_run(tmp_path, stream, snapshot_every=60, commit_upto=len(stream))
    assert recover(tmp_path)[1] == live
    assert len(list(tmp_path.glob("snapshot-*.pickle"))) == 1
    assert len(list(tmp_path.glob("journal-*.log"))) == 1
    lines = (next(tmp_path.glob("journal-*.log"))).read_bytes().splitlines()
    assert len(lines) < 60
    # a second recovery of the same files gives the same state again (recovery itself changes nothing)
    assert recover(tmp_path)[1] == live


def test_a_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    stream = commands(4, 120)
    _, live = live_run(tmp_path, stream, snapshot_every=100_000, commit_upto=len(stream))
    log = next(tmp_path.glob("journal-*.log"))
    with log.open("ab") as f:
        f.write(encode({"op": "tick"})[:-7])  # a crash in the middle of a write
    assert recover(tmp_path)[1] == live
    assert all(decode(line + b"\n") is not None for line in log.read_bytes().splitlines())


def test_a_first_start_snapshots_the_fresh_market_so_later_options_do_not_matter(tmp_path: Path) -> None:
    stream = commands(5, 50)
    _, live = live_run(tmp_path, stream, snapshot_every=100_000, commit_upto=len(stream))
    started = DurableVenue.open(Journal(tmp_path, fsync=False), lambda: fresh_state([], SimulationConfig(seed=1), 9))
    assert fingerprint(started.durable.state) == live


def test_resting_day_gtc_and_stop_orders_survive_and_day_orders_expire_at_the_close(tmp_path: Path) -> None:
    started = DurableVenue.open(Journal(tmp_path, fsync=False), fresh)
    d = started.durable
    d.execute({"op": "run", "run": 1})
    d.execute({"op": "open", "at": "2026-01-05T00:00:00+00:00"})
    base = {"op": "D", "s": GW, "sym": "AAPL", "side": "1", "qty": "100", "stop": None, "acct": "A1"}
    d.execute({**base, "id": "day", "type": "2", "tif": "0", "px": "1"})
    d.execute({**base, "id": "gtc", "type": "2", "tif": "1", "px": "1"})
    d.execute({**base, "id": "stop", "type": "3", "tif": "0", "px": None, "stop": "5000"})
    d.journal.commit_now()
    # kill -9: a new process recovers the three orders
    again = DurableVenue.open(Journal(tmp_path, fsync=False), fresh).durable
    assert fingerprint(again.state) == fingerprint(d.state)
    orders = again.state.orders
    assert {o.cl_ord_id: o.status for o in orders.by_id.values()} == {"day": "0", "gtc": "0", "stop": "0"}
    out = again.execute({"op": "eod", "at": "2026-01-05T21:00:00+00:00"}).outbound
    expired = {r.cl_ord_id for r in out if isinstance(r, ExecReport) and r.exec_type == ExecType.EXPIRED}
    assert expired == {"day", "stop"}
    assert again.state.eod_through == "2026-01-05T21:00:00+00:00"


def test_a_status_request_repeats_the_orders_fills_with_their_exec_ids(tmp_path: Path) -> None:
    d = DurableVenue.open(Journal(tmp_path, fsync=False), fresh).durable
    d.execute({"op": "run", "run": 1})
    d.execute({"op": "open", "at": "2026-01-05T00:00:00+00:00"})
    out = d.execute({"op": "D", "s": GW, "id": "m", "sym": "F", "side": "1", "type": "1", "tif": "3",
                     "qty": "300", "px": None, "stop": None, "acct": "A1"}).outbound
    fills = [r for r in out if isinstance(r, ExecReport) and r.exec_type == ExecType.TRADE]
    assert fills
    answer = d.execute({"op": "H", "s": GW, "id": "m", "sym": "F", "side": "1"}).outbound
    assert all(isinstance(r, ExecReport) for r in answer)
    resent = answer[:-1]
    assert [r.exec_id for r in resent] == [r.exec_id for r in fills]  # type: ignore[union-attr]
    assert all(r.poss_resend for r in resent)  # type: ignore[union-attr]
    assert answer[-1].exec_type == ExecType.ORDER_STATUS  # type: ignore[union-attr]


def test_close_schedules() -> None:
    nyse = CloseSchedule("XNYS")
    monday = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    assert nyse.next_after(monday) == datetime(2026, 1, 5, 21, 0, tzinfo=UTC)  # 16:00 New York (EST)
    assert nyse.last_at_or_before(monday) == datetime(2026, 1, 2, 21, 0, tzinfo=UTC)  # Friday, not the weekend
    daily = CloseSchedule.daily_at(time(16, 0), "America/New_York")
    assert daily.next_after(datetime(2026, 7, 4, 21, 0, tzinfo=UTC)) == datetime(2026, 7, 5, 20, 0, tzinfo=UTC)
    assert daily.last_at_or_before(datetime(2026, 7, 5, 19, 0, tzinfo=UTC)) == datetime(2026, 7, 4, 20, 0,
                                                                                          tzinfo=UTC)
