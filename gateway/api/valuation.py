"""Positions and accounts valued at live quotes (pure: no I/O).

A position is marked at the quote's mark (last trade, else mid, else previous close). Without a quote
the position has no market value or unrealized P&L of its own (``None``: unknown is not zero); for the
account's equity and long market value it is carried at cost so that an instrument without a quote
does not make the account look poorer than it is, and the account lists it in ``unpriced_symbols``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from ledger.buying_power import MarginPolicy, buying_power
from ledger.buying_power import value_positions as ledger_value_positions
from ledger.fills import AccountType
from ledger.fills import Position as LedgerPosition
from ledger.reservations import CashBalance
from marketdata.quotes import Quote

MONEY_STEP = Decimal("0.0001")  # the ledger's NUMERIC(20, 4)
RATIO_STEP = Decimal("0.000001")
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    qty: Decimal  # signed: negative is a short (margin accounts only)
    blocked_qty: Decimal  # shares reserved by open sell orders
    avg_cost: Decimal
    cost_basis: Decimal  # book value, >= 0 (the ledger's holdings.cost_basis); its sign follows qty
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class PositionValue:
    symbol: str
    side: str  # long | short
    qty: Decimal
    qty_available: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal  # signed like qty, so market_value − cost_basis = unrealized_pl on both sides
    current_price: Decimal | None
    market_value: Decimal | None
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None  # unrealized P&L over |cost basis|, a fraction
    realized_pl: Decimal
    price_as_of: datetime | None


def value_position(holding: Holding, quote: Quote | None) -> PositionValue:
    cost_basis = holding.cost_basis if holding.qty > 0 else -holding.cost_basis
    mark = quote.mark if quote is not None else None
    market_value = unrealized = unrealized_pc = None
    if mark is not None:
        market_value = money(holding.qty * mark)
        unrealized = market_value - cost_basis
        if cost_basis != ZERO:
            unrealized_pc = (unrealized / abs(cost_basis)).quantize(RATIO_STEP, rounding=ROUND_HALF_EVEN)
    as_of = None
    if quote is not None and mark is not None and quote.ingest_ts_us:
        as_of = datetime.fromtimestamp(quote.ingest_ts_us / 1_000_000, tz=UTC)
    return PositionValue(
        symbol=holding.symbol,
        side="short" if holding.qty < 0 else "long",
        qty=holding.qty,
        qty_available=holding.qty - holding.blocked_qty,
        avg_entry_price=holding.avg_cost,
        cost_basis=cost_basis,
        current_price=mark,
        market_value=market_value,
        unrealized_pl=unrealized,
        unrealized_plpc=unrealized_pc,
        realized_pl=holding.realized_pnl,
        price_as_of=as_of,
    )


def value_positions(holdings: Iterable[Holding], quotes: Mapping[str, Quote]) -> list[PositionValue]:
    return [value_position(h, quotes.get(h.symbol)) for h in holdings]


@dataclass(frozen=True, slots=True)
class AccountValue:
    cash: Decimal
    blocked: Decimal
    available_cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal  # zero or negative
    equity: Decimal
    buying_power: Decimal
    unpriced_symbols: tuple[str, ...]


def value_account(
    account_type: str,
    cash: Decimal,
    blocked: Decimal,
    positions: Sequence[PositionValue],
    policy: MarginPolicy,
) -> AccountValue:
    """Equity and buying power by the ledger's own rules (``ledger.buying_power``), the same figures
    pre-trade risk uses, with the positions marked at the quotes the API read."""
    ledger_positions = [
        LedgerPosition(p.symbol, p.qty, abs(p.cost_basis), p.realized_pl, p.qty - p.qty_available)
        for p in positions
    ]
    marks = {p.symbol: p.current_price for p in positions if p.current_price is not None}
    valuation = ledger_value_positions(cash, ledger_positions, marks)
    power = buying_power(AccountType(account_type), CashBalance(cash, blocked), ledger_positions, marks, policy)
    return AccountValue(
        cash=cash, blocked=blocked, available_cash=cash - blocked,
        long_market_value=money(valuation.long_market_value),
        short_market_value=money(-valuation.short_market_value),
        equity=money(valuation.equity), buying_power=money(power),
        unpriced_symbols=tuple(sorted(p.symbol for p in positions if p.current_price is None)),
    )
