"""A group-commit transaction's ledger rows in memory: read once, changed in Python, written set-wise.

``order_postings`` does one block, release or fill per call with its own statements. An exchange-report
batch (ADR 005) books many of them on the same few accounts in ONE transaction; with every account row
already locked (the serialisation point of every ledger change), its cash rows, the holdings it touches
and which fills the journal already holds are read in one statement (``STATE_SQL``), each block/release/
fill is decided by the same pure functions (``block_cash``/``block_shares``, ``release_*``,
``apply_fill``), and the changed rows go back just before the commit in one statement with the batch's
other writes (``WRITE_CTES``): every journal entry and its lines, every cash row, every holding and every
``fill.booked`` event of the batch (ADR 021).

Nothing here commits or talks to the database: the caller reads ``STATE_SQL`` and passes ``write_args``
to its statement, inside the transaction that holds the account locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ledger.errors import LedgerInvariantError
from ledger.fills import Fill, FillOutcome, Position, apply_fill
from ledger.journal_store import LockedAccount
from ledger.order_postings import cash_after_block
from ledger.reservations import (
    CashBalance,
    OrderReservation,
    Release,
    ShareBalance,
    block_shares,
    release_cash,
    release_shares,
)

__all__ = ["STATE_SQL", "PostingBatch", "document", "json_rows", "state_sql", "write_ctes"]


def document(parts: dict[str, Any]) -> str:
    """The JSON text of a batch statement's jsonb parameter (``write_ctes``, ``gateway.oms.store``): one
    string for all its rows. Decimals become JSON strings (``str``: exact, read back with ``::numeric``);
    UUIDs, dates and aware datetimes orjson writes itself (naive datetimes as UTC); any other type is
    refused (``orjson.JSONEncodeError``), as asyncpg refused it."""
    return orjson.dumps(parts, default=Decimal.__str__, option=orjson.OPT_NAIVE_UTC).decode()

def state_sql(accounts: str = "$1", pairs: str = "SELECT * FROM unnest($2::text[], $3::text[])",
              exec_ids: str = "$4", tail: str = "") -> str:
    """The ledger state of a batch, with its accounts locked: cash rows (c) of the ``accounts`` (a text[]
    parameter), holdings of the (account, symbol) ``pairs`` (a subquery) (h), which (account, reference)
    fills the journal already holds (j) and which of the venue ``exec_ids`` (a text[] parameter) a client
    report already records (x): both exactly-once checks in one statement (ADR 031). ``tail`` is appended to
    each row's columns (a caller's UNION with more columns). No FOR UPDATE: the account locks already keep
    every other writer out, and this statement's snapshot starts after they were granted. The journal
    predicate stays ``account_id = ANY .. AND reference = ANY ..``: a join on the (account, ExecID) pairs (ADR
    049, withdrawn by ADR 051) got a cached generic plan that scanned the whole journal on a fresh database."""
    return (
        "SELECT 'c' AS k, c.account_id AS a, c.currency AS s, c.amount AS n1, c.blocked AS n2, "
        f"NULL::numeric AS n3, NULL::numeric AS n4{tail} FROM cash_balances c JOIN accounts a USING (account_id) "
        f"WHERE c.account_id = ANY({accounts}::text[]) AND c.currency = a.currency "
        f"UNION ALL SELECT 'h', h.account_id, h.symbol, h.qty, h.cost_basis, h.realized_pnl, h.blocked_qty{tail} "
        f"FROM holdings h WHERE (h.account_id, h.symbol) IN ({pairs}) "
        f"UNION ALL SELECT 'j', account_id, reference, NULL, NULL, NULL, NULL{tail} FROM journal_entries "
        f"WHERE account_id = ANY({accounts}::text[]) AND kind = 'fill' AND reference = ANY({exec_ids}::text[]) "
        f"UNION ALL SELECT 'x', NULL, venue_exec_id, NULL, NULL, NULL, NULL{tail} FROM executions "
        f"WHERE venue_exec_id = ANY({exec_ids}::text[])"
    )


# accounts $1, holdings of the pairs $2/$3, venue ExecIDs $4
STATE_SQL = state_sql()


def json_rows(doc: str, part: str, columns: tuple[tuple[str, str], ...], ordered: bool = False) -> str:
    """``SELECT`` the rows of ``doc``'s array ``part`` (each row a JSON array) as typed columns: text as text,
    numbers from their text (Decimals travel as JSON strings, never as floats), jsonb as is; with
    ``ordered`` also ``i``, the row's position (the caller orders by it)."""
    out = []
    for i, (name, kind) in enumerate(columns):
        if kind == "text":
            out.append(f"r->>{i} AS {name}")
        elif kind == "jsonb":
            out.append(f"r->{i} AS {name}")
        else:
            out.append(f"(r->>{i})::{kind} AS {name}")
    return (f"SELECT {', '.join(out)}{', i' if ordered else ''} FROM jsonb_array_elements({doc}->'{part}') "
            f"{'WITH ORDINALITY ' if ordered else ''}AS e(r{', i' if ordered else ''})")


def write_ctes(doc: str = "($1::jsonb)", journal: bool = True, cash: bool = True, holdings: bool = True) -> str:
    """The batch's ledger writes as data-modifying CTEs for one statement, reading their rows from the jsonb
    document ``doc`` (a parameter: ``PostingBatch.write_args``): cash rows (``lc``), holdings (``lh``) and
    with ``journal`` the journal entries, their lines and ``fill.booked`` events (``je``, ``jl``, ``jo``).
    One jsonb parameter instead of an array per column: asyncpg encodes it as one string (an array
    parameter costs an ABC ``isinstance`` per element, ADR 036). Leave out what the batch does not change:
    without fills the statement then takes no lock on the journal tables, and a smaller statement costs less
    to plan and start (ADR 031). Starts with a comma: it follows the caller's own ``WITH`` list."""
    out = []
    if cash:
        out.append(
            ", lc AS (UPDATE cash_balances c SET amount = u.amount, blocked = u.blocked, updated_at = now() FROM ("
            + json_rows(doc, "lc", (("a", "text"), ("cur", "text"), ("amount", "numeric"), ("blocked", "numeric")))
            + ") AS u WHERE c.account_id = u.a AND c.currency = u.cur AND c.account_id = ANY(ARRAY(SELECT r->>0 "
            f"FROM jsonb_array_elements({doc}->'lc') r)))")  # by key however many rows the planner guesses
    if holdings:
        out.append(
            ", lh AS (INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty, avg_cost, cost_basis, "
            "realized_pnl) SELECT u.a, u.s, u.t, u.q, u.b, u.ac, u.cb, u.rp FROM ("
            + json_rows(doc, "lh", (("a", "text"), ("s", "text"), ("t", "text"), ("q", "numeric"), ("b", "numeric"),
                                ("ac", "numeric"), ("cb", "numeric"), ("rp", "numeric")))
            + ") AS u ON CONFLICT (account_id, symbol) DO UPDATE SET qty = EXCLUDED.qty, "
            "blocked_qty = EXCLUDED.blocked_qty, avg_cost = EXCLUDED.avg_cost, cost_basis = EXCLUDED.cost_basis, "
            "realized_pnl = EXCLUDED.realized_pnl, updated_at = now())")
    if journal:
        out.append(
            # journal entries, in booking order; the lines and events find theirs by (account, reference)
            ", je AS (INSERT INTO journal_entries (account_id, kind, reference) SELECT u.a, u.k, u.r FROM ("
            + json_rows(doc, "je", (("a", "text"), ("k", "text"), ("r", "text")), ordered=True)
            + ") AS u ORDER BY u.i RETURNING entry_id, account_id, kind, reference, created_at)"
            ", jl AS (INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit, quantity) "
            "SELECT je.entry_id, u.a, u.l, u.d, u.c, u.q FROM ("
            + json_rows(doc, "jl", (("a", "text"), ("k", "text"), ("r", "text"), ("l", "text"), ("d", "numeric"),
                                ("c", "numeric"), ("q", "numeric")), ordered=True)
            + ") AS u JOIN je ON je.account_id = u.a AND je.kind = u.k AND je.reference = u.r ORDER BY u.i)"
            ", jo AS (INSERT INTO outbox (event_id, event_type, account_id, payload, occurred_at) "
            "SELECT u.id, 'fill.booked', u.a, jsonb_set(u.p, '{entry_id}', to_jsonb(je.entry_id)), je.created_at "
            "FROM ("
            + json_rows(doc, "jo", (("id", "uuid"), ("a", "text"), ("r", "text"), ("p", "jsonb")), ordered=True)
            + ") AS u JOIN je ON je.account_id = u.a AND je.kind = 'fill' AND je.reference = u.r ORDER BY u.i)")
    return "".join(out)


@dataclass(slots=True, repr=False)
class PostingBatch:
    """The ledger rows of one batch transaction (accounts locked by the caller) and what changed."""

    cash: dict[str, CashBalance] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    journal_refs: set[tuple[str, str]] = field(default_factory=set)  # (account, reference) of booked fills
    _account_types: dict[str, str] = field(default_factory=dict)
    _cash_changed: set[str] = field(default_factory=set)
    _positions_changed: set[tuple[str, str]] = field(default_factory=set)
    _fills: list[tuple[str, str, Fill, FillOutcome]] = field(default_factory=list)

    def __repr__(self) -> str:  # short: error tracebacks render their frames' locals
        return (f"PostingBatch({len(self.cash)} cash rows, {len(self.positions)} holdings, "
                f"{len(self._fills)} fills booked)")

    def load(self, rows: Sequence[Any], pairs: Sequence[tuple[str, str]]) -> set[str]:
        """Take ``STATE_SQL``'s rows; ``pairs``: the (account, symbol) holdings it was asked for (a pair with
        no row is a flat position). Returns the venue ExecIDs that client reports already record."""
        recorded: set[str] = set()
        for r in rows:
            kind = r["k"]
            if kind == "c":
                self.cash[r["a"]] = CashBalance(r["n1"], r["n2"], r["s"])
            elif kind == "h":
                self.positions[(r["a"], r["s"])] = Position(r["s"], r["n1"], r["n2"], r["n3"], r["n4"])
            elif kind == "j":
                self.journal_refs.add((r["a"], r["s"]))
            elif kind == "x":
                recorded.add(r["s"])
            else:
                raise LedgerInvariantError(f"unknown ledger state row kind {kind!r}")
        for account_id, symbol in pairs:
            self.positions.setdefault((account_id, symbol), Position(symbol))
        return recorded

    def has_cash(self, account_id: str) -> bool:
        return account_id in self.cash

    def has_position(self, account_id: str, symbol: str) -> bool:
        return (account_id, symbol) in self.positions

    def _position(self, account: LockedAccount, symbol: str) -> Position:
        position = self.positions.get((account.account_id, symbol))
        if position is None:
            raise LedgerInvariantError(f"holding {account.account_id}/{symbol} was not read by this batch")
        return position

    def _cash(self, account: LockedAccount) -> CashBalance:
        balance = self.cash.get(account.account_id)
        if balance is None:
            raise LedgerInvariantError(f"cash row of {account.account_id} was not read by this batch")
        return balance

    def _set_cash(self, account: LockedAccount, balance: CashBalance) -> None:
        self.cash[account.account_id] = balance
        self._cash_changed.add(account.account_id)

    def _set_position(self, account: LockedAccount, position: Position) -> None:
        key = (account.account_id, position.symbol)
        self.positions[key] = position
        self._positions_changed.add(key)
        self._account_types[account.account_id] = account.account_type.value

    def block(self, account: LockedAccount, symbol: str, reservation: OrderReservation) -> CashBalance:
        """``order_postings.block_reservation``, in memory."""
        balance = self._cash(account)
        if reservation.cash:
            balance = cash_after_block(account, balance, reservation.cash)
            self._set_cash(account, balance)
        if reservation.shares:
            position = self._position(account, symbol)
            shares = block_shares(ShareBalance(symbol, position.qty, position.blocked_qty), reservation.shares)
            self._set_position(account, Position(symbol, position.qty, position.cost_basis, position.realized_pnl,
                                                 shares.blocked_qty))
        return balance

    def release(self, account: LockedAccount, symbol: str, release: Release) -> CashBalance:
        """``order_postings.release_reservation``, in memory."""
        balance = self._cash(account)
        if release.cash:
            balance = release_cash(balance, release.cash)
            self._set_cash(account, balance)
        if release.shares:
            position = self._position(account, symbol)
            shares = release_shares(ShareBalance(symbol, position.qty, position.blocked_qty), release.shares)
            self._set_position(account, Position(symbol, position.qty, position.cost_basis, position.realized_pnl,
                                                 shares.blocked_qty))
        return balance

    def book_fill(self, account: LockedAccount, symbol: str, reservation: OrderReservation, fill: Fill,
                  ) -> FillOutcome | None:
        """``order_postings.post_fill``, in memory: None when the journal already holds a fill under
        ``fill.reference`` for this account (read by ``STATE_SQL``, or booked earlier in this batch)."""
        key = (account.account_id, fill.reference)
        if key in self.journal_refs:
            return None
        outcome = apply_fill(cash=self._cash(account), position=self._position(account, symbol),
                             reservation=reservation, fill=fill, account_type=account.account_type)
        self._set_cash(account, outcome.cash)
        self._set_position(account, outcome.position)
        self.journal_refs.add(key)
        self._fills.append((account.account_id, symbol, fill, outcome))
        return outcome

    @property
    def has_fills(self) -> bool:
        return bool(self._fills)

    def write_args(self, journal: bool = True) -> dict[str, list[list[Any]]]:
        """The rows of ``write_ctes`` by part (``lc``, ``lh`` and with ``journal`` ``je``, ``jl``, ``jo``; each
        row a list in the CTE's column order): the changes since ``load`` (empty lists: none). They go into
        the statement's jsonb document (``document``)."""
        entries: list[list[Any]] = []
        lines: list[list[Any]] = []
        events: list[list[Any]] = []
        for account_id, symbol, fill, outcome in self._fills:
            entry = outcome.entry
            entries.append([account_id, entry.kind, entry.reference])
            lines += [[account_id, entry.kind, entry.reference, line.ledger_account, line.debit, line.credit,
                       line.quantity] for line in entry.lines]
            c, p = outcome.cash, outcome.position
            events.append([uuid.uuid4(), account_id, entry.reference, {
                "entry_id": None, "exec_id": fill.reference, "symbol": symbol, "side": fill.side.value,
                "last_qty": fill.qty, "last_px": fill.price, "notional": fill.notional,
                "realized_pnl": outcome.realized_pnl, "cash": c.cash, "blocked": c.blocked,
                "position_qty": p.qty, "avg_cost": p.avg_cost}])
        args: dict[str, list[list[Any]]] = {
            "lc": [[a, c.currency, c.cash, c.blocked] for a in sorted(self._cash_changed) for c in (self.cash[a],)],
            "lh": [[a, s, self._account_types[a], p.qty, p.blocked_qty, p.avg_cost, p.cost_basis, p.realized_pnl]
                   for a, s in sorted(self._positions_changed) for p in (self.positions[(a, s)],)],
        }
        if journal:
            args.update(je=entries, jl=lines, jo=events)
        return args

    def written(self) -> None:
        """The changes went out with the batch's statement: start counting afresh."""
        self._cash_changed.clear()
        self._positions_changed.clear()
        self._fills.clear()

    @property
    def changed(self) -> bool:
        return bool(self._cash_changed or self._positions_changed or self._fills)
