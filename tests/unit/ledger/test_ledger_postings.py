from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidAmount, UnbalancedEntry
from ledger.postings import (
    EXTERNAL_BANK,
    JournalEntry,
    Posting,
    credit,
    debit,
    deposit_entry,
    trial_balance,
    withdrawal_entry,
)

amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1000000"), places=4)


def test_unbalanced_entry_cannot_be_built() -> None:
    with pytest.raises(UnbalancedEntry):
        JournalEntry("x", "r", (debit("cash:USD", Decimal("10")), credit(EXTERNAL_BANK, Decimal("9.9999"))))
    with pytest.raises(UnbalancedEntry):
        JournalEntry("x", "r", ())


def test_a_line_is_one_sided_non_negative_and_four_places() -> None:
    with pytest.raises(InvalidAmount):
        Posting("cash:USD", debit=Decimal(1), credit=Decimal(1))
    with pytest.raises(InvalidAmount):
        Posting("cash:USD", debit=Decimal(-1))
    with pytest.raises(InvalidAmount):
        Posting("cash:USD", debit=Decimal("0.00001"))
    assert debit("cash:USD", Decimal(-5)) == Posting("cash:USD", credit=Decimal(5))


@given(st.lists(st.tuples(st.booleans(), amounts), max_size=30))
def test_deposits_and_withdrawals_balance_and_replay(moves: list[tuple[bool, Decimal]]) -> None:
    entries = [(deposit_entry if is_deposit else withdrawal_entry)(amount, "USD", f"k{i}")
               for i, (is_deposit, amount) in enumerate(moves)]
    for entry in entries:
        assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
    balances = trial_balance(entries)
    expected_cash = sum((a if d else -a for d, a in moves), Decimal(0))
    assert balances.get("cash:USD", Decimal(0)) == expected_cash
    assert sum(balances.values(), Decimal(0)) == 0  # the whole journal balances too
