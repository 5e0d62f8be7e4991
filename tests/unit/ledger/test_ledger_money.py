from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidAmount, InvalidQuantity
from ledger.money import Money, ceil_cash, floor_cash, parse_amount, parse_quantity, quantize_cash

BAD = ["0", "-1", "0.00001", "1.23456", "NaN", "Infinity", "abc", "", None, 1.5, True, "1e20"]


@pytest.mark.parametrize("raw", BAD)
def test_parse_amount_rejects_bad_input(raw: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(raw)


@pytest.mark.parametrize(("raw", "expected"), [("100", "100.0000"), ("0.0001", "0.0001"), (Decimal("12.50"), "12.5000"),
                                               (7, "7.0000"), ("1.2300000", "1.2300")])
def test_parse_amount_normalises_to_four_places(raw: object, expected: str) -> None:
    assert str(parse_amount(raw)) == expected


def test_parse_quantity() -> None:
    assert parse_quantity("10") == Decimal("10.0000")
    for bad in ("0", "-3", "0.00001", "x"):
        with pytest.raises(InvalidQuantity):
            parse_quantity(bad)


@given(st.decimals(min_value=-10**9, max_value=10**9, places=8, allow_nan=False, allow_infinity=False))
def test_rounding_brackets_the_exact_value(value: Decimal) -> None:
    assert floor_cash(value) <= value <= ceil_cash(value)
    assert floor_cash(value) <= quantize_cash(value) <= ceil_cash(value)
    assert ceil_cash(value) - floor_cash(value) <= Decimal("0.0001")


def test_money_refuses_mixed_currencies_and_nan() -> None:
    assert Money(Decimal("1.5")) + Money(Decimal("2")) == Money(Decimal("3.5"))
    with pytest.raises(InvalidAmount):
        Money(Decimal(1), "USD") + Money(Decimal(1), "EUR")
    with pytest.raises(InvalidAmount):
        Money(Decimal("NaN"))
    with pytest.raises(InvalidAmount):
        Money(Decimal(1), "usd")
    assert str(Money(Decimal("1.23456"))) == "1.2346 USD"
