"""ledger.posting_batch: a batch's blocks, releases and fills in memory give what the one-at-a-time path gives,
and what goes to the database (``write_args``) is exactly what changed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InsufficientFunds, LedgerInvariantError
from ledger.fills import AccountType, Fill, Position, Side, apply_fill
from ledger.journal_store import LockedAccount
from ledger.posting_batch import PostingBatch, document, write_ctes
from ledger.reservations import CashBalance, OrderReservation, Release

D = Decimal
CASH = LockedAccount("A1", AccountType.CASH, "USD", "active", False, False)


def _loaded(cash: str = "10000", qty: str = "100", refs: tuple[str, ...] = ()) -> PostingBatch:
    batch = PostingBatch()
    rows = [{"k": "c", "a": "A1", "s": "USD", "n1": D(cash), "n2": D(0), "n3": None, "n4": None},
            {"k": "h", "a": "A1", "s": "AAPL", "n1": D(qty), "n2": D(qty) * 10, "n3": D(0), "n4": D(0)}]
    rows += [{"k": "j", "a": "A1", "s": ref, "n1": None, "n2": None, "n3": None, "n4": None} for ref in refs]
    batch.load(rows, [("A1", "AAPL"), ("A1", "MSFT")])
    return batch


def test_fill_matches_apply_fill_and_is_booked_once() -> None:
    batch = _loaded()
    reservation = OrderReservation.for_buy(D(10), D(50))
    batch.block(CASH, "AAPL", reservation)
    fill = Fill(Side.BUY, D(4), D("49.5"), "X1")
    expected = apply_fill(cash=CashBalance(D(10000), D(500)), position=Position("AAPL", D(100), D(1000)),
                          reservation=reservation, fill=fill, account_type=AccountType.CASH)
    assert batch.book_fill(CASH, "AAPL", reservation, fill) == expected
    assert batch.cash["A1"] == expected.cash and batch.positions[("A1", "AAPL")] == expected.position
    assert batch.book_fill(CASH, "AAPL", reservation, fill) is None  # same ExecID in the same batch


def test_fill_the_journal_already_holds_changes_nothing() -> None:
    batch = _loaded(refs=("X1",))
    assert batch.book_fill(CASH, "AAPL", OrderReservation.for_buy(D(1), D(50)), Fill(Side.BUY, D(1), D(50), "X1")) \
        is None
    assert not batch.changed
    assert all(rows == [] for rows in batch.write_args().values())


def test_refused_block_leaves_rows_unchanged() -> None:
    batch = _loaded(cash="100")
    with pytest.raises(InsufficientFunds):
        batch.block(CASH, "AAPL", OrderReservation.for_buy(D(3), D(50)))
    assert batch.cash["A1"] == CashBalance(D(100), D(0)) and not batch.changed


def test_a_row_the_batch_did_not_read_is_an_invariant_error() -> None:
    with pytest.raises(LedgerInvariantError):
        PostingBatch().release(CASH, "AAPL", Release(D(1)))


def test_write_args_carry_each_changed_row_once() -> None:
    batch = _loaded()
    sell = OrderReservation.for_sell(D(5))
    batch.block(CASH, "AAPL", sell)
    batch.book_fill(CASH, "AAPL", sell, Fill(Side.SELL, D(2), D(60), "X1"))
    batch.book_fill(CASH, "AAPL", OrderReservation(D(3), D(0), D(3)), Fill(Side.SELL, D(3), D(61), "X2"))
    args = batch.write_args()
    assert sorted(args) == ["je", "jl", "jo", "lc", "lh"] and sorted(batch.write_args(journal=False)) == ["lc", "lh"]
    assert "journal" not in write_ctes(journal=False) and "journal_lines" in write_ctes()
    assert [e[2] for e in args["je"]] == ["X1", "X2"] and [e[2] for e in args["jo"]] == ["X1", "X2"]
    assert len(args["jl"]) == sum(len(o.entry.lines) for *_, o in batch._fills)
    assert args["lc"] == [["A1", "USD", batch.cash["A1"].cash, D(0)]]  # one row, the final state
    [holding] = args["lh"]
    assert holding[:5] == ["A1", "AAPL", "cash", D(95), D(0)]
    batch.written()
    assert not batch.changed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 5), st.integers(1, 3),
                          st.integers(90, 110)), max_size=12))
def test_blocked_is_the_sum_of_what_open_orders_hold(orders: list[tuple[str, int, int, int]]) -> None:
    """Block each order, fill part of it, release the rest: blocked cash and shares end where they began,
    and after every step equal what the still-open reservations hold."""
    batch = _loaded(cash="1000000", qty="1000")
    held: list[tuple[str, OrderReservation]] = []
    for n, (side, qty, filled, price) in enumerate(orders):
        reservation = (OrderReservation.for_buy(D(qty), D(100)) if side == "buy"
                       else OrderReservation.for_sell(D(qty)))
        batch.block(CASH, "AAPL", reservation)
        take = min(filled, qty)
        outcome = batch.book_fill(CASH, "AAPL", reservation, Fill(Side(side), D(take), D(price) if side == "sell"
                                                                  else D(min(price, 100)), f"X{n}"))
        assert outcome is not None
        held.append((side, outcome.reservation))
        assert batch.cash["A1"].blocked == sum((r.cash for _, r in held), D(0))
        assert batch.positions[("A1", "AAPL")].blocked_qty == sum((r.shares for _, r in held), D(0))
    for _, reservation in held:
        batch.release(CASH, "AAPL", Release(reservation.cash, reservation.shares))
    assert batch.cash["A1"].blocked == 0 and batch.positions[("A1", "AAPL")].blocked_qty == 0


def test_load_returns_the_venue_exec_ids_client_reports_record() -> None:
    batch = PostingBatch()
    rows = [{"k": "x", "a": None, "s": "V1", "n1": None, "n2": None, "n3": None, "n4": None},
            {"k": "j", "a": "A1", "s": "V2", "n1": None, "n2": None, "n3": None, "n4": None}]
    assert batch.load(rows, []) == {"V1"}
    assert batch.journal_refs == {("A1", "V2")}  # a recorded report is not a booked fill
    with pytest.raises(LedgerInvariantError):
        batch.load([{"k": "?", "a": "A1", "s": "V3", "n1": None, "n2": None, "n3": None, "n4": None}], [])


def test_document_writes_decimals_as_exact_strings_and_refuses_unknown_types() -> None:
    text = document({"lc": [["A1", "USD", D("12345678901234567890.123456789"), D("1E+2")]]})
    assert text == '{"lc":[["A1","USD","12345678901234567890.123456789","1E+2"]]}'
    with pytest.raises(TypeError):  # orjson.JSONEncodeError: only Decimal goes through ``default``
        document({"lc": [[{1, 2}]]})
