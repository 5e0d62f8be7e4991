"""Books on demand, the pure part (ADR 033): leases, owed snapshots, expiry."""

from __future__ import annotations

from marketdata.depth_demand import BookDemand, parse_want


def test_a_want_starts_a_lease_and_owes_a_full_book_to_the_symbols_this_ingestor_holds() -> None:
    demand = BookDemand(lease_seconds=60)
    demand.want(["AAPL", "MSFT", "NEW"], now=1000.0)
    assert demand.expiry == {"AAPL": 1060.0, "MSFT": 1060.0, "NEW": 1060.0}
    assert demand.take_owed({"AAPL", "MSFT", "IBM"}) == ["AAPL", "MSFT"]
    assert demand.take_owed({"AAPL", "MSFT", "NEW"}) == []  # owed once; NEW's book comes with its first quote
    assert "NEW" in demand.expiry


def test_a_renewal_extends_the_lease_and_owes_the_book_again_but_never_shortens_it() -> None:
    demand = BookDemand(lease_seconds=60)
    demand.want(["AAPL"], now=1000.0)
    demand.take_owed({"AAPL"})
    demand.want(["AAPL"], now=1030.0)
    assert demand.expiry["AAPL"] == 1090.0 and demand.take_owed({"AAPL"}) == ["AAPL"]
    demand.want(["AAPL"], now=0.0, until=1010.0)  # an older lease read back from Redis
    assert demand.expiry["AAPL"] == 1090.0


def test_lapsed_leases_end_only_while_nobody_listens_to_the_book_channels() -> None:
    demand = BookDemand(lease_seconds=60)
    demand.want(["AAPL"], now=1000.0)
    demand.want(["MSFT"], now=1050.0)
    assert demand.expire(now=1100.0, listeners=True) == []  # a stream may still follow AAPL
    assert set(demand.expiry) == {"AAPL", "MSFT"}
    assert demand.expire(now=1100.0, listeners=False) == ["AAPL"]
    assert set(demand.expiry) == {"MSFT"} and demand.take_owed({"AAPL", "MSFT"}) == ["MSFT"]
    assert demand.expire(now=1110.0, listeners=False) == ["MSFT"] and demand.expiry == {}


def test_want_messages_are_symbols_one_a_line() -> None:
    assert parse_want(b"AAPL\nBRK-B\n") == ["AAPL", "BRK-B"]
    assert parse_want("F") == ["F"] and parse_want("") == []
