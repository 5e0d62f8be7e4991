"""What the exchange tells a FIX session, as plain values (pure; ``exchange.fix_app`` encodes them).

ExecType (150) / OrdStatus (39) follow FIX 4.4 Appendix D: a new order is acknowledged New (0/0);
each fill is a Trade (F) with OrdStatus 1 or 2; cancels, IOC/FOK/market remainders are Canceled (4/4);
a replace is Replaced (5) with the order's status after it; end of day is Expired (C/C); a stop that
triggers is reported as Triggered (L); a status request is answered with ExecType I.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, TypeVar

T = TypeVar("T")


def compact_pickle(cls: type[T]) -> type[T]:
    """Pickle instances of a (slotted) dataclass compactly: its values read with one C-level ``attrgetter``
    (the ``__getstate__`` dataclasses generates for slotted classes calls ``fields()`` per instance), Decimals
    as their text (a Decimal pickles as a reduce of its own, several times the cost of a string). The venue's
    snapshot (ADR 011) pickles every session order and fill the venue keeps, so this is most of its cost
    (ADR 032). Snapshots written with the generated ``__getstate__`` still load (``__setstate__`` stays)."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = operator.attrgetter(*names)
    decimals = tuple(i for i, f in enumerate(fields(cls)) if "Decimal" in str(f.type))  # type: ignore[arg-type]

    def __reduce__(self: T) -> tuple[Callable[..., T], tuple[Any, ...]]:
        state = list(values(self))
        for i in decimals:
            if state[i] is not None:
                state[i] = str(state[i])
        return _restore, (cls, decimals, tuple(state))

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


def _restore(cls: Callable[..., T], decimals: tuple[int, ...], state: tuple[Any, ...]) -> T:
    values = list(state)
    for i in decimals:
        if values[i] is not None:
            values[i] = Decimal(values[i])
    return cls(*values)


class ExecType:
    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    REJECTED = "8"
    EXPIRED = "C"
    TRADE = "F"
    TRIGGERED = "L"
    ORDER_STATUS = "I"


class OrdStatus:
    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    REJECTED = "8"
    EXPIRED = "C"


DONE = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})

# ExecRestatementReason (378) on an unsolicited cancel by self-trade prevention: 99 Other (FIX 4.4 has no
# dedicated value), the reason in Text (58)
SELF_TRADE_RESTATEMENT = 99

# CxlRejResponseTo (434)
CANCEL_REQUEST = "1"
REPLACE_REQUEST = "2"


@compact_pickle
@dataclass(frozen=True, slots=True)
class ExecReport:
    session: str
    order_id: str
    cl_ord_id: str
    exec_id: str
    exec_type: str
    ord_status: str
    symbol: str
    side: str
    order_qty: Decimal
    leaves_qty: Decimal
    cum_qty: Decimal
    avg_px: Decimal
    ord_type: str | None = None
    time_in_force: str | None = None
    price: Decimal | None = None
    stop_px: Decimal | None = None
    orig_cl_ord_id: str | None = None
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    last_liquidity_ind: str | None = None  # 851: 1 added liquidity (resting), 2 removed (aggressor)
    ord_rej_reason: int | None = None
    text: str | None = None
    account: str | None = None
    poss_resend: bool = False  # 97=Y: a report sent before, repeated (same ExecID) in answer to a status request
    exec_restatement_reason: int | None = None  # 378 (self-trade prevention cancels)


@compact_pickle
@dataclass(frozen=True, slots=True)
class CancelReject:
    session: str
    order_id: str  # "NONE" when the order is unknown
    cl_ord_id: str
    orig_cl_ord_id: str
    ord_status: str
    response_to: str
    reason: int
    text: str
    account: str | None = None


Outbound = ExecReport | CancelReject


class ExecIds:
    """Unique ExecIDs across restarts: a run epoch (persisted by the server) and a counter."""

    def __init__(self, run: int) -> None:
        self.prefix = f"{run}-"
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"
