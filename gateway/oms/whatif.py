"""Pre-trade what-if: what a new order would do, decided by the same pure code as a real order, placing nothing.

``evaluate`` (pure) runs ``entry.decide_new_order`` (validation, then ``risk.check_new_order``) on the order as
the order path would, and figures the account before and after:

* the block: what the ledger would reserve (``Accepted.reservation``: cash for buys and short sales, shares for
  long sells); nothing when rejected;
* buying power before, and after the block is taken (what the account shows while the order works);
* equity and maintenance margin (``margin.assess``, the margin monitor's rule) before, and after the order is
  filled in full at its valuation price (its limit, or a market/stop order's collar: the worst fill its
  reservation allows), the symbol marked at its live mark; the margin-call state after (equity below the
  requirement). Cash accounts have no maintenance requirement and never a margin call.

A rejected what-if leaves every "after" figure equal to "before". ``WhatIfRequests`` (mixed into
``OrderService``) is the shell: it reads the risk context inside a transaction that is always rolled back
(the same locked read as a real order, so the decisions agree), answers a FIX NewOrderSingle that carries
``WhatIf`` (9600=Y) with an ExecutionReport (shape in ``fix_specs/what-if.md``); the REST route calls
``what_if`` directly. No order row, no ClOrdID claim, no block, no execution row, no venue message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import asyncpg

from gateway.oms import fix_codec as codec
from gateway.oms.admission import DuplicateOrder, ReportStatus
from gateway.oms.context import RiskInputs
from gateway.oms.entry import decide_new_order
from gateway.oms.fix_codec import Fields, field_list, transact_time
from gateway.oms.margin import MaintenancePolicy, assess
from gateway.oms.model import ClOrdID, ExecType, OrdRejReason, OrdStatus, Side
from gateway.oms.order_fsm import InvalidOrder, Order, submit
from gateway.oms.risk_config import Accepted, RiskContext, RiskLimits
from gateway.oms.store import new_id
from ledger.buying_power import buying_power, value_positions
from ledger.fills import AccountType, Position
from ledger.journal_store import lock_account
from ledger.money import ZERO
from ledger.reservations import OrderReservation
from refdata.instruments import Instrument

__all__ = ["WHAT_IF_TAG", "WhatIf", "WhatIfRefused", "evaluate", "what_if", "what_if_report"]

WHAT_IF_TAG = 9600  # NewOrderSingle: 9600=Y asks for a what-if (fix_specs/FIX44.xml, user-defined)


@dataclass(frozen=True, slots=True)
class WhatIf:
    accepted: bool
    reject_reason: OrdRejReason | None  # 103 a real order would get
    rule: str  # the risk rule's name in lower case ("" when accepted)
    text: str  # a real order's reject Text (58), or "" when accepted
    blocked_cash: Decimal
    blocked_qty: Decimal
    valuation_price: Decimal | None  # the price the order is valued at (None when rejected before pricing)
    buying_power_before: Decimal
    buying_power_after: Decimal
    equity_before: Decimal
    equity_after: Decimal
    maintenance_before: Decimal
    maintenance_after: Decimal
    margin_call_after: bool


class WhatIfRefused(ValueError):
    """The request cannot even be evaluated as an order (unknown account, invalid order): a real order would
    be refused the same way before risk."""

    def __init__(self, reason: OrdRejReason, text: str) -> None:
        super().__init__(text)
        self.reason, self.text = reason, text


@dataclass(frozen=True, slots=True)
class _Figures:
    equity: Decimal
    maintenance: Decimal
    in_call: bool


def _figures(account_type: AccountType, cash: Decimal, positions: tuple[Position, ...], marks: Mapping[str, Decimal],
             policy: MaintenancePolicy) -> _Figures:
    if account_type is AccountType.MARGIN:
        assessment = assess(cash, positions, marks, policy)
        return _Figures(assessment.equity, assessment.requirement, assessment.in_call)
    return _Figures(value_positions(cash, positions, marks).equity, ZERO, False)


def _filled(order: Order, price: Decimal, positions: tuple[Position, ...]) -> tuple[Decimal, tuple[Position, ...]]:
    """Cash change and holdings after ``order`` fills in full at ``price`` (cost basis is not needed: the symbol
    is valued at a mark)."""
    signed = order.leaves_qty if order.side is Side.BUY else -order.leaves_qty
    held = next((p for p in positions if p.symbol == order.symbol), Position(order.symbol))
    after = replace(held, qty=held.qty + signed, blocked_qty=ZERO)
    others = tuple(p for p in positions if p.symbol != order.symbol)
    return -signed * price, (*others, after)


def evaluate(order: Order, *, instrument: Instrument | None, ctx: RiskContext, limits: RiskLimits,
             policy: MaintenancePolicy, marks: Mapping[str, Decimal], account_status: str = "active") -> WhatIf:
    """The what-if of ``order`` (PENDING_NEW, as ``submit`` makes it) for an account in state ``ctx``.
    ``marks``: live marks of the account's holdings and of the order's symbol (equity and maintenance)."""
    positions = ctx.positions
    before = _figures(ctx.account_type, ctx.cash.cash, positions, marks, policy)
    power_before = buying_power(ctx.account_type, ctx.cash, positions, ctx.marks, limits.margin)
    if account_status != "active":
        return _refused(OrdRejReason.UNKNOWN_ACCOUNT, "account_inactive",
                        f"account {order.account_id} is {account_status}", None, power_before, before)
    decision = decide_new_order(order, existing=None, poss_resend=False, instrument=instrument, ctx=ctx,
                                limits=limits)
    assert not isinstance(decision, DuplicateOrder | ReportStatus)  # no existing order: admission passes
    if not isinstance(decision, Accepted):
        return _refused(decision.reason, decision.rule.name.lower(), decision.text, None, power_before, before)
    block: OrderReservation = decision.reservation
    power_after = buying_power(ctx.account_type, replace(ctx.cash, blocked=ctx.cash.blocked + block.cash),
                               positions, ctx.marks, limits.margin)
    price = decision.valuation_price
    cash_change, positions_after = _filled(order, price, positions)
    marks_after = dict(marks)
    marks_after.setdefault(order.symbol, price)  # no live mark: valued at the fill price
    after = _figures(ctx.account_type, ctx.cash.cash + cash_change, positions_after, marks_after, policy)
    return WhatIf(True, None, "", "", block.cash, block.shares, price, power_before, power_after,
                  before.equity, after.equity, before.maintenance, after.maintenance, after.in_call)


def _refused(reason: OrdRejReason, rule: str, text: str, price: Decimal | None, power: Decimal,
             before: _Figures) -> WhatIf:
    return WhatIf(False, reason, rule, text, ZERO, ZERO, price, power, power, before.equity, before.equity,
                  before.maintenance, before.maintenance, before.in_call)


def order_of(cmd: codec.NewOrderCommand, account_id: str) -> Order:
    """The order a NewOrderSingle would enter (raises ``WhatIfRefused`` as a real order is refused)."""
    try:
        return submit(order_id=new_id("W"), cl_ord_id=cmd.cl_ord_id, account_id=account_id,  # type: ignore[arg-type]
                      symbol=cmd.symbol, side=cmd.side, ord_type=cmd.ord_type, time_in_force=cmd.time_in_force,
                      qty=cmd.qty, price=cmd.price, stop_px=cmd.stop_px)
    except InvalidOrder as error:
        raise WhatIfRefused(OrdRejReason.OTHER, f"invalid order: {error}") from None


async def what_if(pool: asyncpg.Pool, inputs: RiskInputs, instruments: Mapping[str, Instrument],
                  policy: MaintenancePolicy, account_id: str, cmd: codec.NewOrderCommand) -> WhatIf:
    """Evaluate ``cmd`` for ``account_id`` (already known to be the caller's) against the ledger as it is now:
    the same locked read as a real order, in a transaction that is rolled back."""
    order = order_of(cmd, account_id)
    quote = await inputs.quote(order.symbol)
    async with pool.acquire(timeout=5) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            account = await lock_account(conn, account_id)
            ctx, _, _ = await inputs.context_for_new(conn, account, order.symbol, quote, None, None)
            limits = inputs.limits(account)
        finally:
            await transaction.rollback()  # nothing a what-if read may ever stay written
    held = [p.symbol for p in ctx.positions if p.qty]
    marks = dict(ctx.marks) if account.account_type is AccountType.MARGIN else await inputs.marks(held)
    if quote is not None and quote.mark is not None:
        marks.setdefault(order.symbol, quote.mark)
    return evaluate(order, instrument=instruments.get(order.symbol), ctx=ctx, limits=limits, policy=policy,
                    marks=marks, account_status=account.status)


def what_if_report(cmd: codec.NewOrderCommand, account_id: str | None, result: WhatIf | WhatIfRefused) -> Fields:
    """The ExecutionReport answering a what-if NewOrderSingle: nothing placed (37=NONE, 150=I, 39=8, 151=0),
    the decision in 9601 (and 103/58 when rejected), the figures in 9602-9610 (fix_specs/what-if.md)."""
    reason: OrdRejReason | None
    if isinstance(result, WhatIfRefused):
        accepted, reason, text = False, result.reason, result.text
    else:
        accepted, reason = result.accepted, result.reject_reason
        text = result.text or "what-if: would be accepted; nothing was placed"
    head: list[tuple[int, object]] = [
        (37, "NONE"), (11, ClOrdID(cmd.cl_ord_id)), (17, new_id("W")), (150, ExecType.ORDER_STATUS.value),
        (39, OrdStatus.REJECTED.value), (103, reason.value if reason is not None else None), (1, account_id),
        (55, cmd.symbol), (54, cmd.side.value), (38, cmd.qty), (40, cmd.ord_type.value), (44, cmd.price),
        (99, cmd.stop_px), (59, cmd.time_in_force.value), (151, ZERO), (14, ZERO), (6, ZERO),
        (60, transact_time()), (58, text), (WHAT_IF_TAG, "Y"), (9601, "A" if accepted else "R"),
    ]
    if isinstance(result, WhatIf):
        head += [(9602, result.blocked_cash), (9603, result.blocked_qty), (9604, result.buying_power_before),
                 (9605, result.buying_power_after), (9606, result.equity_before), (9607, result.equity_after),
                 (9608, result.maintenance_before), (9609, result.maintenance_after),
                 (9610, "Y" if result.margin_call_after else "N")]
    return field_list(head)
