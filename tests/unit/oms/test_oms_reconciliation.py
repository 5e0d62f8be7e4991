"""The reconciliation diff (ledger view vs venue view → repairs): every venue fill missing from the ledger is
booked exactly once, a venue that finished or lost the order closes it with a reason, and once the repairs
are applied a second diff finds nothing more to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.oms.reconciliation import (
    UNKNOWN_REASON,
    Acknowledge,
    BookFill,
    CloseOrder,
    ConfirmReplace,
    LedgerOrder,
    Mismatch,
    NoAnswer,
    Recheck,
    ResendRequest,
    RouteAgain,
    VenueFill,
    VenueOrder,
    diff,
)

WORKING = ("new", "partially_filled", "pending_cancel", "pending_replace")


def ledger(status: str = "new", cum: Decimal = Decimal(0), booked: frozenset[str] = frozenset(), *,
           pending: bool = False, replace: bool = False, age: float = 60.0, requests: int = 0) -> LedgerOrder:
    return LedgerOrder("O1", status, cum, "O1" if not requests else f"O1.{requests}", pending, replace, booked, age)


fills_st = st.lists(st.tuples(st.integers(1, 9), st.integers(1, 5)), max_size=8, unique_by=lambda t: t[0]).map(
    lambda xs: tuple(VenueFill(f"1-{n}", Decimal(q * 100), Decimal("10.5")) for n, q in xs))


def apply_repairs(view: LedgerOrder, repairs: Sequence[object]) -> LedgerOrder:
    for r in repairs:
        if isinstance(r, BookFill):
            view = replace(view, cum_qty=view.cum_qty + r.fill.last_qty, booked=view.booked | {r.fill.exec_id})
    return view


@given(fills=fills_st, booked_share=st.floats(0, 1), status=st.sampled_from(["0", "1", "2", "4", "C", "8"]),
       ledger_status=st.sampled_from(WORKING), startup=st.booleans())
def test_missing_fills_booked_once_then_nothing_left(fills: tuple[VenueFill, ...], booked_share: float,
                                                     status: str, ledger_status: str, startup: bool) -> None:
    k = int(len(fills) * booked_share)
    booked = frozenset(f.exec_id for f in fills[:k])
    view = ledger(ledger_status, sum((f.last_qty for f in fills[:k]), Decimal(0)), booked)
    venue = VenueOrder(True, status, sum((f.last_qty for f in fills), Decimal(0)), "O1", fills + fills[:2])
    repairs = diff(view, venue, startup=startup)
    booked_now = [r.fill.exec_id for r in repairs if isinstance(r, BookFill)]
    assert sorted(booked_now) == sorted(f.exec_id for f in fills[k:])  # the missing ones, each once
    assert not any(isinstance(r, Mismatch) for r in repairs)
    closes = [r for r in repairs if isinstance(r, CloseOrder)]
    if status in ("4", "C", "8"):
        assert [c.exec_type for c in closes] == ["C" if status == "C" else "4"]
        assert repairs[-1] is closes[0]  # after the fills
    else:
        assert not closes
    after = apply_repairs(view, repairs)
    again = diff(after, venue, startup=startup)
    assert not any(isinstance(r, BookFill | Mismatch) for r in again)


@given(fills=fills_st, extra=st.integers(1, 5))
def test_cum_that_the_fills_do_not_explain_is_a_mismatch_and_nothing_is_closed(fills: tuple[VenueFill, ...],
                                                                               extra: int) -> None:
    venue = VenueOrder(True, "4", sum((f.last_qty for f in fills), Decimal(0)) + extra * 100, "O1", fills)
    repairs = diff(ledger(), venue, startup=False)
    assert isinstance(repairs[-1], Mismatch)
    assert not any(isinstance(r, CloseOrder) for r in repairs)


@given(status=st.sampled_from(WORKING), startup=st.booleans())
def test_an_order_the_venue_lost_is_canceled_with_the_reason(status: str, startup: bool) -> None:
    lost = VenueOrder(False, "8", Decimal(0), "O1")
    assert diff(ledger(status, Decimal(100)), lost, startup=startup) == [CloseOrder("O1", "4", UNKNOWN_REASON)]


def test_an_order_never_acknowledged_is_routed_again_unless_it_may_be_in_flight() -> None:
    lost = VenueOrder(False, "8", Decimal(0), "O1")
    assert diff(ledger("pending_new", age=0.5), lost, startup=True) == [RouteAgain("O1")]
    assert diff(ledger("pending_new", age=0.5), lost, startup=False) == [Recheck("O1")]
    assert diff(ledger("pending_new", age=30), lost, startup=False) == [RouteAgain("O1")]


def test_a_cancel_the_venue_never_saw_is_sent_again() -> None:
    view = ledger("pending_cancel", pending=True, requests=2)
    assert diff(view, VenueOrder(True, "0", Decimal(0), "O1.1"), startup=False) == [ResendRequest("O1", "O1.1")]
    assert diff(view, VenueOrder(True, "0", Decimal(0), "O1.2"), startup=False) == []  # it saw it: 150=4 follows
    young = replace(view, age_seconds=1)
    assert diff(young, VenueOrder(True, "0", Decimal(0), "O1.1"), startup=False) == [Recheck("O1")]


def test_a_replace_the_venue_applied_but_whose_report_was_lost_is_confirmed() -> None:
    view = ledger("pending_replace", pending=True, replace=True, requests=1)
    there = VenueOrder(True, "0", Decimal(0), "O1.1", qty=Decimal(300), price=Decimal("9.5"))
    assert diff(view, there, startup=False) == [ConfirmReplace("O1", Decimal(300), Decimal("9.5"))]


def test_an_order_the_venue_accepted_whose_ack_was_lost_is_acknowledged_before_its_fills() -> None:
    fill = VenueFill("1-7", Decimal(100), Decimal(10))
    there = VenueOrder(True, "2", Decimal(100), "O1", (fill,), venue_order_id="V9")
    assert diff(ledger("pending_new"), there, startup=False) == [Acknowledge("O1", "V9"), BookFill("O1", fill)]


def test_no_answer_changes_nothing() -> None:
    assert diff(ledger(), None, startup=True) == [NoAnswer("O1")]
