"""``model.evolve`` gives what ``dataclasses.replace`` gives (ADR 037)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest

from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce, evolve
from gateway.oms.order_fsm import submit
from gateway.oms.store import StoredOrder
from ledger.reservations import OrderReservation


def test_same_as_replace_for_the_order_path_types() -> None:
    order = submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                   side=Side.BUY, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.IOC, qty=Decimal(3),
                   price=Decimal("10.00"))
    held = OrderReservation(Decimal(3), Decimal("30.00"))
    stored = StoredOrder(order, "S1", ClOrdID("C1"), held)
    assert evolve(held, leaves_qty=Decimal(1)) == replace(held, leaves_qty=Decimal(1))
    assert evolve(stored, reservation=held, venue_requests=2) == replace(stored, reservation=held, venue_requests=2)
    assert evolve(stored) == stored and evolve(stored) is not stored


@dataclass(frozen=True, slots=True)
class _Checked:
    a: int
    b: int = 0

    def __post_init__(self) -> None:
        if self.b < 0:
            raise ValueError("b < 0")


@dataclass(frozen=True)
class _Derived:
    a: int
    b: int = 0
    c: int = field(init=False, default=7)


def test_post_init_runs_and_unknown_fields_raise() -> None:
    assert evolve(_Checked(1), b=2) == _Checked(1, 2)
    with pytest.raises(ValueError, match="b < 0"):
        evolve(_Checked(1), b=-1)
    with pytest.raises(KeyError):
        evolve(_Checked(1), nope=1)


def test_a_class_with_non_init_fields_goes_through_replace() -> None:
    assert evolve(_Derived(1), b=2) == _Derived(1, 2)
