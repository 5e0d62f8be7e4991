"""A random order flow per FIX session (new orders, cancels, replaces) and what each client saw.

``Trader`` remembers, for every order it entered (by its first ClOrdID), the last OrdStatus its
ExecutionReports carried, following cancel/replace ClOrdID chains through OrigClOrdID (41).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

import asyncpg

from fixclient import FixClient
from marketdata.redis_quotes import QuoteReader

TERMINAL = {"2", "4", "8", "C"}
CENTS = Decimal("0.01")


@dataclass
class Trader:
    comp_id: str
    rng: random.Random
    symbols: tuple[str, ...]
    client: FixClient | None = None
    root: dict[str, str] = field(default_factory=dict)  # any ClOrdID -> the ClOrdID the order was entered with
    current: dict[str, str] = field(default_factory=dict)  # entry ClOrdID -> ClOrdID in force
    last_status: dict[str, str] = field(default_factory=dict)  # entry ClOrdID -> last OrdStatus seen
    busy: set[str] = field(default_factory=set)  # entry ClOrdIDs with a cancel/replace outstanding
    sent: int = 0
    counter: int = 0
    _reader: asyncio.Task[None] | None = None

    def attach(self, client: FixClient) -> None:
        self.client = client
        self._reader = asyncio.create_task(self._consume(client))

    async def detach(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    async def _consume(self, client: FixClient) -> None:
        async for message in client.messages():
            cl, orig = message.get(11) or "", message.get(41) or ""
            entry = self.root.get(cl) or self.root.get(orig)
            if entry is None:
                continue
            if message.msg_type == "9":
                self.busy.discard(entry)
                continue
            if message.msg_type != "8":
                continue
            self.last_status[entry] = message.get(39) or ""
            if message.get(150) in ("5", "4", "8", "C", "2", "F") or message.get(39) in TERMINAL:
                self.busy.discard(entry)
            if message.get(150) == "5":
                self.current[entry] = cl

    def _next_id(self) -> str:
        self.counter += 1
        return f"{self.comp_id}-{self.rng.getrandbits(40):010x}-{self.counter}"

    def working(self) -> list[str]:
        return [e for e, s in self.last_status.items() if s in ("0", "1") and e not in self.busy]

    async def step(self, marks: dict[str, Decimal]) -> None:
        assert self.client is not None
        roll = self.rng.random()
        working = self.working()
        if roll < 0.5 or not working:
            symbol = self.rng.choice(self.symbols)
            mark = marks.get(symbol)
            if mark is None:
                return
            side = "buy" if self.rng.random() < 0.7 else "sell"
            price = (mark * Decimal(str(1 + self.rng.uniform(-0.01, 0.01)))).quantize(CENTS, ROUND_DOWN)
            tif = "ioc" if self.rng.random() < 0.1 else "day"
            cl = self._next_id()
            self.root[cl] = cl
            self.current[cl] = cl
            self.last_status[cl] = "A"
            await self.client.new_order_single(symbol, side, self.rng.randint(1, 50), "limit", price=price,
                                               tif=tif, cl_ord_id=cl)
        elif roll < 0.75:
            entry = self.rng.choice(working)
            cl = self._next_id()
            self.root[cl] = entry
            self.busy.add(entry)
            await self.client.cancel(self.current[entry], cl_ord_id=cl)
        else:
            entry = self.rng.choice(working)
            ticket = self.client.order_ticket(self.current[entry]) or self.client.order_ticket(entry)
            if ticket is None or ticket.price is None:
                return
            cl = self._next_id()
            self.root[cl] = entry
            self.busy.add(entry)
            price = (ticket.price * Decimal(str(1 + self.rng.uniform(-0.005, 0.005)))).quantize(CENTS, ROUND_DOWN)
            await self.client.replace(self.current[entry], qty=self.rng.randint(1, 60), price=price, cl_ord_id=cl)
        self.sent += 1

    async def ask_status(self) -> None:
        """After a reconnect: an OrderStatusRequest for every order not known to be finished."""
        assert self.client is not None
        for entry in self.unfinished():
            with contextlib.suppress(Exception):
                await self.client.order_status(self.current.get(entry, entry), symbol=self.symbols[0], side="buy")

    def unfinished(self) -> list[str]:
        return [e for e, s in self.last_status.items() if s not in TERMINAL]


async def marks_of(quotes: QuoteReader, symbols: tuple[str, ...]) -> dict[str, Decimal]:
    found = await quotes.get_many(list(symbols))
    return {s: q.mark for s, q in found.items() if q.mark is not None}


async def run_traders(traders: list[Trader], quotes: QuoteReader, orders_each: int, rate: float = 35.0,
                      between: Callable[[int], Awaitable[None]] | None = None) -> None:
    """Every trader sends ``orders_each`` requests at ``rate`` per second; ``between(i)`` runs after each round."""
    marks = await marks_of(quotes, traders[0].symbols)
    for i in range(orders_each):
        if i % 20 == 0:
            marks = await marks_of(quotes, traders[0].symbols) or marks
        for trader in traders:
            if trader.client is not None and not trader.client.is_closed:
                with contextlib.suppress(Exception):
                    await trader.step(marks)
        if between is not None:
            await between(i)
        await asyncio.sleep(1 / rate)


async def cancel_everything(pool: asyncpg.Pool, traders: list[Trader], timeout: float = 40,  # noqa: ASYNC109
                            logs: Callable[[], str] | None = None) -> None:
    """Cancel every order still working until none is; orders pending new are waited for. On failure the
    message carries, per order still working, the last lines of ``logs()`` (the gateways' logs) naming it."""
    deadline = asyncio.get_running_loop().time() + timeout
    by_comp = {t.comp_id: t for t in traders}
    while asyncio.get_running_loop().time() < deadline:
        rows = await pool.fetch("SELECT session_id, coalesce(current_cl_ord_id, cl_ord_id) AS cl, status, symbol, "
                                "CASE side WHEN 'buy' THEN '1' ELSE '2' END AS side "
                                "FROM orders WHERE status IN ('pending_new', 'new', 'partially_filled', "
                                "'pending_cancel', 'pending_replace')")
        if not rows:
            return
        for row in rows:
            trader = by_comp.get(row["session_id"])
            if row["status"] in ("new", "partially_filled") and trader and trader.client \
                    and not trader.client.is_closed:
                with contextlib.suppress(Exception):
                    cl = trader._next_id()
                    trader.root[cl] = trader.root.get(row["cl"], row["cl"])
                    await trader.client.cancel(row["cl"], cl_ord_id=cl, symbol=row["symbol"], side=row["side"])
        await asyncio.sleep(1.0)
    rows = await pool.fetch("SELECT order_id, session_id, cl_ord_id, current_cl_ord_id, status, qty, cum_qty, "
                            "pending_cl_ord_id, venue_requests FROM orders WHERE status IN ('pending_new', 'new', "
                            "'partially_filled', 'pending_cancel', 'pending_replace')")
    text = logs() if logs is not None else ""
    lines = {r["order_id"]: [line for line in text.splitlines() if r["order_id"] in line][-8:] for r in rows}
    raise AssertionError(f"orders still working after cancel_everything: {[dict(r) for r in rows]}; "
                         f"their last gateway log lines: {lines}")


async def wait_all_final(traders: list[Trader], timeout: float = 20) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if not any(t.unfinished() for t in traders):
            return
        await asyncio.sleep(0.2)
    missing = {t.comp_id: t.unfinished()[:5] for t in traders if t.unfinished()}
    raise AssertionError(f"clients without a final state for some orders: {missing}")
