"""The seeded scheduler: one ``random.Random(seed)`` decides every interleaving, fault and request.

Each step is one of: a client request, routing one queued message to the exchange, a market tick, the wire
delivering one exchange message (maybe out of order), a lane applying one report, handing client reports
over, saving the marks, a venue re-report of an old fill under a new MsgSeqNum, the end of the trading day
and the session reset that follows (or a 141=Y reset at any time), the link dropping and coming back,
or a crash (the gateway loses all its memory, recovery rebuilds it from
the fake store and the exchange resends from the rewound mark). The invariants are checked after every
step; at the end the world is left to settle (no more faults) and the quiescent checks run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.oms.fix_codec import NewOrderCommand, ReplaceCommand
from ledger.fills import AccountType, Position
from ledger.postings import EXTERNAL_BANK, JournalEntry, credit, debit, deposit_entry, securities_account
from refdata.instruments import Instrument
from tests.sim.checker import Violation, check_quiescent, check_step
from tests.sim.clients import Command, FakeClient
from tests.sim.gateway import SimGateway
from tests.sim.messages import Ids, Policy
from tests.sim.recovery import recover
from tests.sim.store import FakeStore
from tests.sim.venue_link import EngineStore, ExchangeStream, FakeExchange, InboundSession

INSTRUMENTS = [
    Instrument("AAA", "Alpha Corp", "SIM", "Technology", "USD", Decimal("50.00"), Decimal("0.01"), 1,
               Decimal("2e11")),
    Instrument("BBB", "Beta Inc", "SIM", "Energy", "USD", Decimal("20.00"), Decimal("0.01"), 1, Decimal("2e10")),
]
SESSIONS = {"S1": ("A1", frozenset({"A1", "A2"})), "S2": ("A3", frozenset({"A3"}))}
SHORTABLE = frozenset({"A3"})  # the margin account may sell short


@dataclass(frozen=True)
class SimConfig:
    steps: int = 300
    crash_p: float = 0.03
    eod_p: float = 0.01
    reorder_p: float = 0.25
    venue_dup_p: float = 0.03
    disconnect_p: float = 0.01  # the link drops (the gateway lives): the wire and the queue ahead of a gap go
    reset_p: float = 0.005  # a 141=Y reset in the middle of the day (not only at the end of the day)
    stops: bool = True  # clients also send stop orders
    crash_at: frozenset[int] = frozenset()  # steps that crash for sure (on top of crash_p)
    policy: Policy = field(default_factory=Policy)


@dataclass
class SimResult:
    seed: int
    steps: int
    crashes: int = 0
    resets: int = 0
    orders: int = 0
    fills: int = 0
    duplicates: int = 0
    trace: list[str] = field(default_factory=list)


class SimulationFailure(AssertionError):
    def __init__(self, seed: int, step: int, error: BaseException, trace: list[str], config: SimConfig) -> None:
        self.seed, self.step, self.error, self.trace = seed, step, error, trace
        tail = "\n".join(trace[-40:])
        super().__init__(f"simulation seed {seed} failed at step {step}: {error}\n"
                         f"reproduce: python -m tests.sim --seed {seed}{cli_flags(config)}\nlast steps:\n{tail}")


def cli_flags(config: SimConfig) -> str:
    """The ``python -m tests.sim`` options that rebuild ``config``."""
    flags = [] if config.steps == SimConfig.steps else [f"--steps {config.steps}"]
    flags += [] if config.policy.marks_per_day else ["--faulty-marks"]
    flags += [] if config.policy.drain_before_reset else ["--no-drain"]
    flags += [] if config.stops else ["--no-stops"]
    flags += [f"--crash-at {step}" for step in sorted(config.crash_at)]
    return "".join(f" {flag}" for flag in flags)


def _opening(store: FakeStore) -> None:
    store.add_account("A1", AccountType.CASH, Decimal(100_000), [deposit_entry(Decimal(100_000), "USD", "dep-A1")], [])
    basis = Decimal(25_000)
    store.add_account("A2", AccountType.CASH, Decimal(20_000), [
        deposit_entry(Decimal(20_000), "USD", "dep-A2"),
        JournalEntry.of("transfer_in", "xfer-A2", [debit(securities_account("AAA"), basis, quantity=Decimal(500)),
                                                   credit(EXTERNAL_BANK, basis)])],
        [Position("AAA", Decimal(500), basis)])
    store.add_account("A3", AccountType.MARGIN, Decimal(50_000), [deposit_entry(Decimal(50_000), "USD", "dep-A3")],
                      [])


def describe(cmd: Command) -> str:
    resend = " PossResend" if cmd.poss_resend else ""
    if isinstance(cmd, NewOrderCommand):
        return (f"new {cmd.cl_ord_id}{resend} {cmd.account} {cmd.side.name} {cmd.qty} {cmd.symbol} "
                f"{cmd.ord_type.name} {cmd.price or ''} {cmd.time_in_force.name}")
    if isinstance(cmd, ReplaceCommand):
        return f"replace {cmd.orig_cl_ord_id} -> {cmd.cl_ord_id}{resend} qty {cmd.qty} px {cmd.price}"
    return f"cancel {cmd.orig_cl_ord_id} -> {cmd.cl_ord_id}{resend}"


class World:
    def __init__(self, seed: int, config: SimConfig) -> None:
        self.rng = random.Random(seed)
        self.config = config
        self.store = FakeStore()
        _opening(self.store)
        self.exchange = FakeExchange(INSTRUMENTS, seed)
        self.stream = ExchangeStream(random.Random(f"{seed}:wire"))
        self.engine = EngineStore()
        self.ids = Ids()
        self.clients = {s: FakeClient(s, tuple(sorted(accounts)), random.Random(f"{seed}:{s}"), stops=config.stops,
                                       shorts=bool(accounts & SHORTABLE))
                        for s, (_, accounts) in SESSIONS.items()}
        self.gw = self._gateway()
        self.reset_due = False
        self.result = SimResult(seed, config.steps)

    def _gateway(self) -> SimGateway:
        return SimGateway(self.store, InboundSession(self.engine, self.stream), self.exchange, self.stream,
                          {i.symbol: i for i in INSTRUMENTS}, SESSIONS, self.ids, self.config.policy, SHORTABLE)

    # -- actions ------------------------------------------------------------------------------------
    def client(self) -> str:
        client = self.clients[self.rng.choice(sorted(self.clients))]
        cmd = client.next_request({i.symbol: self.exchange.quote(i.symbol) for i in INSTRUMENTS})
        self.gw.client_request(client.session_id, cmd)
        return f"client {client.session_id} {describe(cmd)}"

    def route(self) -> str:
        msg_type, fields = self.gw.venue_out.popleft()
        self.stream.send(self.exchange.handle(msg_type, fields))
        return f"route {msg_type} {dict(fields).get(11)}"

    def tick(self) -> str:
        items = self.exchange.tick()
        self.stream.send(items)
        return f"tick ({len(items)} reports)"

    def deliver(self) -> str:
        wire = self.stream.take(self.rng.random() < self.config.reorder_p)
        assert wire is not None
        handed = self.gw.inbound.receive(wire)
        for seq, item in handed:
            self.gw.on_venue_message(seq, item)
        return f"deliver day {wire.day} seq {wire.seq}{' possdup' if wire.poss_dup else ''} -> {[s for s, _ in handed]}"

    def work(self) -> str:
        lanes = [i for i, lane in enumerate(self.gw.lanes) if lane]
        lane = self.rng.choice(lanes)
        what = [f"{seq} {type(item).__name__[5:]} {item.venue_cl_ord_id} {getattr(item, 'exec_type', '')} "
                f"{getattr(item, 'exec_id', '')}" for seq, _, item in self.gw.lanes[lane]][:16]
        return f"apply [{'; '.join(what)}] -> {self.gw.work(lane)}"

    def flush(self) -> str:
        msg = self.gw.client_out.popleft()
        self.clients[msg.session_id].on_message(msg)
        if msg.seq is not None:
            self.gw.sent.setdefault(msg.session_id, set()).add(msg.seq)
        return f"client gets {msg.kind} {msg.order_id} {msg.exec_type}/{msg.ord_status}"

    def marks(self) -> str:
        self.gw.save_mark()
        self.gw.save_client_marks()
        return f"save marks venue={self.gw.saved_mark}"

    def venue_dup(self) -> str:
        trades = [item for item in self.stream.store.values() if getattr(item, "exec_type", "") == "F"]
        if not trades:
            return "venue re-report: nothing to repeat"
        item = self.rng.choice(trades)
        self.stream.send([item])
        return f"venue re-reports {item.venue_cl_ord_id} {getattr(item, 'exec_id', '')} as seq {self.stream.out_seq}"

    def end_of_day(self) -> str:
        items = self.exchange.end_of_day()
        self.stream.send(items)
        self.reset_due = True
        return f"end of day ({len(items)} expired)"

    def session_reset(self) -> str:
        self.gw.on_session_reset()
        self.stream.reset()
        self.engine.day, self.engine.expected = self.stream.day, 1
        self.reset_due = False
        self.result.resets += 1
        return f"session reset: day {self.stream.day}"

    def disconnect(self) -> str:
        self.stream.wire.clear()
        self.gw.inbound.ahead.clear()
        self.gw.inbound.asked = 0
        self.gw.inbound.logon()
        return f"link dropped and back: resend from {self.engine.expected}"

    def reset_request(self) -> str:
        self.reset_due = True
        return "141=Y reset requested"

    def crash(self) -> str:
        self.stream.wire.clear()  # the TCP connections die with the process
        self.gw = self._gateway()
        notes = recover(self.gw)
        resent = 0
        for client in self.clients.values():
            for cmd in client.unanswered():
                self.gw.client_request(client.session_id, cmd)
                resent += 1
        self.result.crashes += 1
        return f"CRASH; recovery: {'; '.join(notes)}; clients resent {resent}"

    # -- scheduling ---------------------------------------------------------------------------------
    def choose(self, faults: bool, step: int = 0) -> str:
        gw, rng, config = self.gw, self.rng, self.config
        if faults and (rng.random() < config.crash_p or step in config.crash_at):
            return self.crash()
        if self.reset_due and not self.stream.wire and self.engine.expected > self.stream.out_seq:
            return self.session_reset()
        options: list[tuple[float, str]] = []
        if faults:
            options += [(4, "client"), (2, "tick"), (config.venue_dup_p * 30, "venue_dup")]
            options.append((config.disconnect_p * 30, "disconnect"))
            if not self.reset_due:
                options += [(config.eod_p * 30, "end_of_day"), (config.reset_p * 30, "reset_request")]
        if gw.venue_out:
            options.append((5, "route"))
        if self.stream.wire:
            options.append((5, "deliver"))
        if any(gw.lanes):
            options.append((5, "work"))
        if gw.client_out:
            options.append((3, "flush"))
        options.append((1 if faults else 0.2, "marks"))
        name = rng.choices([n for _, n in options], weights=[w for w, _ in options])[0]
        return str(getattr(self, name)())

    def quiet(self) -> bool:
        gw = self.gw
        return not (gw.venue_out or self.stream.wire or any(gw.lanes) or gw.client_out or self.reset_due)


def _settle(world: World, step: int) -> int:
    """No more faults or requests: let everything arrive, then save the marks; the last step's number."""
    trace = world.result.trace
    settle = 0
    while not world.quiet() and settle < 20_000:
        step += 1
        settle += 1
        trace.append(f"{step}: {world.choose(faults=False)}")
        check_step(world.store.state)
    trace.append(f"{step}: {world.marks()}")
    if not world.quiet():
        raise Violation("the world did not settle")
    return step


def run(seed: int, config: SimConfig | None = None) -> SimResult:
    config = config or SimConfig()
    world = World(seed, config)
    trace = world.result.trace
    step = 0
    try:
        for step in range(1, config.steps + 1):
            trace.append(f"{step}: {world.choose(faults=True, step=step)}")
            check_step(world.store.state)
        step = _settle(world, step)
        check_quiescent(world.store.state, world.exchange, world.clients)
        # liveness: every order still working can be canceled (a refused cancel/replace earlier must not have
        # left the gateway naming a ClOrdID the venue never took: ADR 047)
        for _ in range(3):
            cancels = [(c.session_id, cmd) for c in world.clients.values() for cmd in c.cancel_working()]
            if not cancels:
                break
            for session_id, cmd in cancels:
                step += 1
                trace.append(f"{step}: clean-up: client {session_id} {describe(cmd)}")
                world.gw.client_request(session_id, cmd)
            step = _settle(world, step)
        working = [s.order for s in world.store.state.orders.values() if s.order.status.is_open]
        if working:
            sample = [(o.order_id, o.status.ledger, world.exchange.status_of_order(o.order_id)) for o in working[:3]]
            raise Violation(f"{len(working)} orders still working after three rounds of cancels, e.g. {sample}")
        check_quiescent(world.store.state, world.exchange, world.clients)
    except Exception as error:
        raise SimulationFailure(seed, step, error, trace, config) from error
    state = world.store.state
    world.result.orders = len(state.orders)
    world.result.fills = sum(1 for _, e in state.journal if e.kind == "fill")
    world.result.duplicates = world.gw.duplicates
    world.result.steps = step
    return world.result
