"""Pre-trade risk: one pure function per rule, run in a fixed order; the first that fails rejects.

Order of the rules: categorical refusals first (kill switch, halt, market hours, short-sale permission),
then fat-finger limits (quantity, price collar, notional, open orders, position), then the account's
means (shares for sells, buying power for buys and short sales), so a reject names the most basic cause.

Reservation (what the ledger blocks for the order's leaves quantity; units follow ``ledger.buying_power``,
whose margin buying power is 1 / initial ratio × excess equity, less what is blocked):
* buy: ``ceil(leaves × price)`` of buying power, where price is the limit, or for market/stop orders the
  collar ``(ask, else last) × (1 + market_order_collar_pct)``. For a margin account this consumes
  ``initial_ratio × notional`` of excess equity, i.e. exactly Reg T's 50% initial requirement;
* long sell: ``leaves`` shares out of the available (unblocked) holding;
* short sale (margin accounts, short selling enabled): ``ceil(leaves × price × (short_requirement − 1) /
  initial_ratio)`` of buying power: the 150% requirement less the 100% proceeds that stay in the account,
  expressed in buying-power units (= the notional with Reg T's defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.oms.model import OrdType, Side
from gateway.oms.order_fsm import Order
from gateway.oms.risk_config import Accepted, Rejected, RiskContext, RiskDecision, RiskLimits, RiskRule
from ledger.buying_power import buying_power
from ledger.fills import AccountType
from ledger.money import ZERO, ceil_cash
from ledger.reservations import OrderReservation
from marketdata.quotes import Quote

__all__ = ["check_new_order", "check_replace", "live_quote", "reduces_position", "valuation_price"]

EMPTY = OrderReservation(ZERO)


@dataclass(frozen=True, slots=True)
class _Proposal:
    symbol: str
    side: Side
    ord_type: OrdType
    qty: Decimal  # the order's quantity (fat-finger limits)
    leaves: Decimal  # what still needs reserving
    added: Decimal  # change in the symbol's open exposure (position limit)
    price: Decimal | None
    stop_px: Decimal | None
    is_new: bool


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"


def live_quote(ctx: RiskContext, limits: RiskLimits) -> Quote | None:
    """The context's quote if it is fresh enough to price against (a stale one is no reference)."""
    quote = ctx.quote
    if quote is None or ctx.now_us is None:
        return quote
    return None if quote.is_stale(limits.max_quote_age_seconds, ctx.now_us) else quote


def valuation_price(
    side: Side, ord_type: OrdType, price: Decimal | None, stop_px: Decimal | None, ctx: RiskContext,
    limits: RiskLimits,
) -> Decimal | None:
    """The price an order is valued at: its limit, else the market collar (None: nothing to value it at)."""
    if ord_type.has_limit_price:
        return price
    quote = live_quote(ctx, limits)
    base = None if quote is None else (quote.ask if quote.ask is not None else quote.last)
    if base is None and quote is not None:
        base = quote.mark
    if ord_type is OrdType.STOP and stop_px is not None:
        base = stop_px if base is None else max(base, stop_px)  # a stop buy fires at or above its stop
    if ord_type.is_trailing_stop and side is Side.BUY and stop_px is not None and base is not None:
        base += stop_px  # a trailing buy starts its stop one trail above the market and only lowers it
    if base is None:
        return None
    return base * (1 + limits.market_order_collar_pct)


def reduces_position(side: Side, qty: Decimal, ctx: RiskContext) -> bool:
    """Selling at most the free long position, or buying back at most the uncovered short."""
    held = ctx.position.qty
    if side is Side.SELL:
        return held > 0 and qty <= held - ctx.position.blocked_qty
    if side is Side.BUY:
        return held < 0 and qty + ctx.open_buy_qty <= -held
    return False


def _kill_switch(p: _Proposal, ctx: RiskContext, limits: RiskLimits, held: OrderReservation) -> Rejected | None:
    if not (ctx.account_killed or ctx.global_killed):
        return None
    if not p.is_new and p.leaves <= held.leaves_qty:
        return None  # shrinking a working order only lowers risk
    if limits.allow_reducing_when_killed and reduces_position(p.side, p.leaves, ctx):
        return None
    which = "global kill switch is engaged" if ctx.global_killed else "the account's kill switch is engaged"
    allowed = "; only position-reducing orders pass" if limits.allow_reducing_when_killed else ""
    return Rejected(RiskRule.KILL_SWITCH, f"kill switch: {which}{allowed}")


def _session(p: _Proposal, ctx: RiskContext, limits: RiskLimits) -> Rejected | None:
    if ctx.halted:
        return Rejected(RiskRule.TRADING_HALT,
                        f"trading halt: {ctx.halt_reason or 'market-wide circuit breaker'}; no new orders")
    if not ctx.market_open:
        note = ctx.market_note or "orders are accepted during regular hours only"
        return Rejected(RiskRule.MARKET_HOURS, f"market closed: {note}")
    if p.side is Side.SELL_SHORT:
        if ctx.account_type is not AccountType.MARGIN:
            return Rejected(RiskRule.SHORT_SELLING, "short selling not allowed: cash account")
        if not limits.short_selling:
            return Rejected(RiskRule.SHORT_SELLING, "short selling not allowed: not enabled for this account")
    return None


def _fat_finger(p: _Proposal, ctx: RiskContext, limits: RiskLimits, price: Decimal) -> Rejected | None:
    if p.qty > limits.max_order_qty:
        return Rejected(RiskRule.MAX_ORDER_QTY,
                        f"max order quantity: {_qty(p.qty)} exceeds {_qty(limits.max_order_qty)}")
    quote = live_quote(ctx, limits)
    reference = quote.mark if quote is not None else None
    if p.ord_type is OrdType.LIMIT and reference is not None and reference > 0:
        through = (price - reference) / reference if p.side is Side.BUY else (reference - price) / reference
        if through > limits.price_collar_pct:
            direction = "above" if p.side is Side.BUY else "below"
            return Rejected(RiskRule.PRICE_COLLAR,
                            f"price collar: {p.side.ledger} limit {_money(price)} is {through * 100:.2f}% "
                            f"{direction} reference {_money(reference)} (max {limits.price_collar_pct * 100:.2f}%)")
    notional = p.qty * price
    if notional > limits.max_order_notional:
        return Rejected(RiskRule.MAX_ORDER_NOTIONAL,
                        f"max order notional: {_money(notional)} exceeds {_money(limits.max_order_notional)}")
    if p.is_new and ctx.open_orders >= limits.max_open_orders:
        return Rejected(RiskRule.MAX_OPEN_ORDERS,
                        f"max open orders: {ctx.open_orders} open, limit {limits.max_open_orders}")
    if p.added > 0:
        if p.side is Side.BUY:
            worst = ctx.position.qty + ctx.open_buy_qty + p.added
        else:
            worst = -(ctx.position.qty - ctx.open_sell_qty - p.added)
        if worst > limits.max_position_qty:
            return Rejected(RiskRule.POSITION_LIMIT,
                            f"position limit: {p.symbol} would reach {_qty(worst)} "
                            f"{'long' if p.side is Side.BUY else 'short'}, limit {_qty(limits.max_position_qty)}")
    return None


def _reservation(p: _Proposal, price: Decimal, limits: RiskLimits) -> OrderReservation:
    if p.side is Side.SELL:
        return OrderReservation.for_sell(p.leaves)
    if p.side is Side.SELL_SHORT:
        factor = (limits.short_requirement - 1) / limits.margin.initial_ratio
        return OrderReservation(leaves_qty=p.leaves, cash=ceil_cash(p.leaves * price * factor))
    return OrderReservation.for_buy(p.leaves, price)


def _means(p: _Proposal, ctx: RiskContext, limits: RiskLimits, held: OrderReservation,
           wanted: OrderReservation) -> Rejected | None:
    if p.side is Side.SELL:
        available = ctx.position.qty - ctx.position.blocked_qty + held.shares
        if wanted.shares > available:
            return Rejected(RiskRule.INSUFFICIENT_SHARES,
                            f"insufficient shares: sell {_qty(wanted.shares)} {p.symbol}, "
                            f"available {_qty(max(available, ZERO))}")
        return None
    if ctx.valuation_problem and ctx.account_type is AccountType.MARGIN and wanted.cash > held.cash:
        return Rejected(RiskRule.NO_REFERENCE_PRICE, f"no reference price: margin {ctx.valuation_problem}")
    power = buying_power(ctx.account_type, ctx.cash, ctx.positions, ctx.marks, limits.margin) + held.cash
    if wanted.cash > power:
        what = " for short sale" if p.side is Side.SELL_SHORT else ""
        return Rejected(RiskRule.BUYING_POWER,
                        f"insufficient buying power{what}: required {_money(wanted.cash)}, "
                        f"available {_money(max(power, ZERO))}")
    return None


def _evaluate(p: _Proposal, ctx: RiskContext, limits: RiskLimits, held: OrderReservation) -> RiskDecision:
    rejected = _kill_switch(p, ctx, limits, held) or _session(p, ctx, limits)
    if rejected:
        return rejected
    price = valuation_price(p.side, p.ord_type, p.price, p.stop_px, ctx, limits)
    if price is None:
        why = "no fresh quote" if ctx.quote is not None else "no quote"
        return Rejected(RiskRule.NO_REFERENCE_PRICE,
                        f"no reference price: {why} for {p.symbol} to value a {p.ord_type.ledger} order")
    rejected = _fat_finger(p, ctx, limits, price)
    if rejected:
        return rejected
    wanted = _reservation(p, price, limits) if p.leaves > 0 else EMPTY
    rejected = _means(p, ctx, limits, held, wanted)
    if rejected:
        return rejected
    return Accepted(wanted, price, wanted.cash - held.cash, wanted.shares - held.shares)


def check_new_order(order: Order, ctx: RiskContext, limits: RiskLimits) -> RiskDecision:
    """Accept (with what to block) or reject a new order, before anything is written."""
    p = _Proposal(order.symbol, order.side, order.ord_type, order.qty, order.leaves_qty, order.leaves_qty,
                  order.price, order.stop_px, is_new=True)
    return _evaluate(p, ctx, limits, EMPTY)


def check_replace(
    order: Order, new_qty: Decimal, new_price: Decimal | None, ctx: RiskContext, limits: RiskLimits,
    held: OrderReservation,
) -> RiskDecision:
    """Re-check a cancel/replace: limits on the new terms; means only for the difference to ``held``
    (the order's current reservation, which the replacement takes over)."""
    leaves = max(new_qty - order.cum_qty, ZERO)
    p = _Proposal(order.symbol, order.side, order.ord_type, new_qty, leaves, leaves - order.leaves_qty,
                  new_price, order.stop_px, is_new=False)
    return _evaluate(p, ctx, limits, held)
