"""The pure parts of the drop copy and trade capture (ADR 027): who gets a copy, what a copy holds, what a
TradeCaptureReportRequest asks for and how it is answered."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.oms.drop_copy import CopyRoutes, copy_fields
from gateway.oms.fix_codec import TradeCaptureRequest
from gateway.oms.trade_capture import Refusal, Trade, TradeQuery, decide, request_ack, trade_reports

ACCOUNTS = st.sampled_from(["A1", "A2", "A3", "A4"])
SESSIONS = st.sampled_from(["DC1", "DC2", "DC3"])


@given(st.dictionaries(ACCOUNTS, st.frozensets(SESSIONS)), st.frozensets(SESSIONS), ACCOUNTS, SESSIONS)
def test_a_session_gets_an_accounts_copy_exactly_when_it_sees_the_account(
        links: dict[str, frozenset[str]], everything: frozenset[str], account: str, session: str) -> None:
    routes = CopyRoutes(links, everything)
    seen = routes.accounts_of(session)
    assert (session in routes.targets(account)) == (seen is None or account in seen)


def test_no_routes_copy_nothing_and_an_account_less_report_goes_to_all_accounts_sessions_only() -> None:
    assert not CopyRoutes()
    routes = CopyRoutes({"A1": frozenset({"DC1"})}, frozenset({"DC2"}))
    assert routes.targets(None) == {"DC2"}
    assert routes.targets("A1") == {"DC1", "DC2"}
    assert routes.sessions() == {"DC1", "DC2"}


def test_a_copy_is_the_report_plus_copy_msg_indicator_and_status_answers_are_not_copied() -> None:
    report = [(37, "O1"), (11, "C1"), (17, "E1"), (150, "F"), (39, "2"), (1, "A1"), (55, "AAPL"), (32, "10")]
    found = copy_fields(report)
    assert found is not None
    account, fields = found
    assert account == "A1"
    assert fields == [*report, (797, "Y")]
    assert copy_fields([(37, "O1"), (17, "S1"), (150, "I"), (1, "A1")]) is None


def request(**changes: object) -> TradeCaptureRequest:
    base: dict[str, object] = {"trade_request_id": "R1", "trade_request_type": "0", "subscription": None,
                               "symbol": None, "side": None, "order_id": None, "exec_id": None, "accounts": (),
                               "dates": ()}
    return TradeCaptureRequest(**{**base, **changes})  # type: ignore[arg-type]


def test_decide_limits_a_request_to_the_sessions_accounts() -> None:
    assert decide(request(), frozenset({"A1", "A2"})) == TradeQuery(frozenset({"A1", "A2"}))
    assert decide(request(accounts=("A2",)), frozenset({"A1", "A2"})) == TradeQuery(frozenset({"A2"}))
    assert decide(request(), None) == TradeQuery(None)  # a drop copy linked to every account
    refused = decide(request(accounts=("A3",)), frozenset({"A1"}))
    assert isinstance(refused, Refusal) and refused.result == "9" and "A3" in refused.text
    assert isinstance(decide(request(), frozenset()), Refusal)


def test_decide_refuses_what_it_does_not_serve() -> None:
    for changes, result in (({"trade_request_type": "1"}, "8"), ({"subscription": "1"}, "99"),
                            ({"side": "9"}, "99"), ({"dates": (("2026-12-01", None),)}, "99"),
                            ({"dates": ((None, None),)}, "99"), ({"dates": (("20261201", None),) * 3}, "99")):
        refused = decide(request(**changes), None)
        assert isinstance(refused, Refusal) and refused.result == result, changes


def test_dates_one_trade_date_is_that_utc_day_two_are_a_range_transact_time_is_exact() -> None:
    day = decide(request(dates=(("20261201", None),)), None)
    assert isinstance(day, TradeQuery)
    assert (day.since, day.until) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    span = decide(request(dates=(("20261201", None), ("20261203", None))), None)
    assert isinstance(span, TradeQuery) and span.until == datetime(2026, 12, 4, tzinfo=UTC)
    since = decide(request(dates=((None, "20261201-14:30:00.250"),), side="2", symbol="F"), None)
    assert isinstance(since, TradeQuery)
    assert since.since == datetime(2026, 12, 1, 14, 30, 0, 250_000, tzinfo=UTC) and since.until is None
    assert since.side == "sell" and since.symbol == "F"


def test_trade_reports_number_the_fills_and_mark_the_last() -> None:
    at = datetime(2026, 12, 1, 15, 0, 1, 5000, tzinfo=UTC)
    trades = [Trade(f"E{n}", "O1", "C1", "A1", "AAPL", "sell_short", Decimal("5"), Decimal("101.250"), at)
              for n in (1, 2)]
    reports = trade_reports("R9", trades)
    assert len(reports) == 2
    body, side = reports[1]
    fields = dict(body)
    assert fields[571] == fields[17] == "E2" and fields[568] == "R9" and fields[748] == "2" and fields[912] == "Y"
    assert dict(reports[0][0])[912] == "N"
    assert (fields[55], fields[32], fields[31], fields[75], fields[60]) == (
        "AAPL", "5", "101.25", "20261201", "20261201-15:00:01.005")
    assert side == [(54, "5"), (37, "O1"), (11, "C1"), (1, "A1")]


def test_request_ack_for_no_match_and_for_a_refusal() -> None:
    empty = dict(request_ack(request(symbol="F"), None))
    assert (empty[568], empty[569], empty[748], empty[749], empty[750], empty[55]) == ("R1", "0", "0", "0", "1", "F")
    refused = dict(request_ack(request(), Refusal("9", "not yours")))
    assert (refused[749], refused[750], refused[58]) == ("9", "2", "not yours")


def test_routes_keep_only_the_sessions_this_gateway_serves() -> None:
    routes = CopyRoutes({"A1": frozenset({"DC1", "DC2"}), "A2": frozenset({"DC2"})}, frozenset({"DC3", "DC1"}))
    local = routes.only(lambda comp_id: comp_id == "DC1")
    assert local == CopyRoutes({"A1": frozenset({"DC1"})}, frozenset({"DC1"}))
