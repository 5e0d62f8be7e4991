from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.valuation import Holding, value_account, value_position, value_positions
from ledger.buying_power import REG_T
from marketdata.quotes import Quote

D = Decimal


def holding(symbol: str = "AAPL", qty: str = "100", avg: str = "150", blocked: str = "0") -> Holding:
    return Holding(symbol, D(qty), D(blocked), D(avg), abs(D(qty)) * D(avg), D("0"))


def test_long_position_marked_at_last() -> None:
    quote = Quote("AAPL", bid=D("159"), ask=D("161"), last=D("160.50"), ingest_ts_us=1_700_000_000_000_000)
    p = value_position(holding(blocked="30"), quote)
    assert p.side == "long"
    assert p.qty_available == D("70")
    assert p.current_price == D("160.50")
    assert p.market_value == D("16050.0000")
    assert p.unrealized_pl == D("1050.0000")
    assert p.unrealized_plpc == D("0.070000")
    assert p.price_as_of is not None and p.price_as_of.year == 2023


def test_mid_when_no_last_trade() -> None:
    p = value_position(holding(), Quote("AAPL", bid=D("149"), ask=D("150")))
    assert p.current_price == D("149.5")
    assert p.unrealized_pl == D("-50.0000")


def test_without_quote_values_are_unknown_not_zero() -> None:
    p = value_position(holding(), None)
    assert p.market_value is None and p.unrealized_pl is None and p.current_price is None
    assert p.cost_basis == D("15000.0000")


def test_short_position_gains_when_price_falls() -> None:
    p = value_position(holding(qty="-10", avg="200"), Quote("TSLA", last=D("180")))
    assert p.side == "short"
    assert p.market_value == D("-1800.0000")
    assert p.unrealized_pl == D("200.0000")
    assert p.unrealized_plpc == D("0.100000")


def test_cash_account_buying_power_is_free_cash() -> None:
    positions = value_positions([holding()], {"AAPL": Quote("AAPL", last=D("160"))})
    v = value_account("cash", D("10000"), D("2500"), positions, REG_T)
    assert v.buying_power == D("7500.0000")
    assert v.long_market_value == D("16000.0000")
    assert v.equity == D("26000.0000")
    assert v.unpriced_symbols == ()


def test_margin_account_reg_t_buying_power() -> None:
    # equity 100k + 20k = 120k (no debit); initial requirement 50% of 20k = 10k; (120k - 10k) / 0.5 = 220k
    positions = value_positions([holding(qty="100", avg="150")], {"AAPL": Quote("AAPL", last=D("200"))})
    v = value_account("margin", D("100000"), D("1000"), positions, REG_T)
    assert v.equity == D("120000.0000")
    assert v.buying_power == D("219000.0000")


def test_unpriced_position_carried_at_cost_and_listed() -> None:
    positions = value_positions([holding("ZZZ", qty="10", avg="5")], {})
    v = value_account("cash", D("0"), D("0"), positions, REG_T)
    assert v.long_market_value == D("50.0000")
    assert v.unpriced_symbols == ("ZZZ",)


def test_short_market_value_is_negative_and_reduces_equity() -> None:
    positions = value_positions([holding("TSLA", qty="-10", avg="200")], {"TSLA": Quote("TSLA", last=D("250"))})
    v = value_account("margin", D("5000"), D("0"), positions, REG_T)
    assert v.short_market_value == D("-2500.0000")
    assert v.equity == D("2500.0000")


@settings(max_examples=200)
@given(
    qty=st.decimals(min_value=-10_000, max_value=10_000, places=2).filter(lambda q: q != 0),
    avg=st.decimals(min_value=D("0.01"), max_value=10_000, places=4),
    mark=st.decimals(min_value=D("0.01"), max_value=10_000, places=4),
    cash=st.decimals(min_value=0, max_value=10_000_000, places=2),
)
def test_equity_is_cash_plus_market_values(qty: Decimal, avg: Decimal, mark: Decimal, cash: Decimal) -> None:
    positions = value_positions([holding("X", str(qty), str(avg))], {"X": Quote("X", last=mark)})
    p = positions[0]
    assert p.market_value is not None and p.unrealized_pl is not None
    assert p.market_value - p.cost_basis == p.unrealized_pl
    v = value_account("margin", cash, D("0"), positions, REG_T)
    assert v.equity == cash + v.long_market_value + v.short_market_value
    assert v.buying_power >= 0
