"""The exchange process over FIX: orders, rejects, cancel/replace, status, market data, restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import simplefix
from conftest import ExchangeProcess, RawFixClient, start_exchange, stop_exchange, value

from brokerage.services import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(exchange: ExchangeProcess) -> Iterator[RawFixClient]:
    client = RawFixClient(exchange.port, "GATEWAY")
    client.logon()
    yield client
    client.logout()


@pytest.fixture
def mdfeed(exchange: ExchangeProcess) -> Iterator[RawFixClient]:
    client = RawFixClient(exchange.port, "MDFEED")
    client.logon()
    yield client
    client.logout()


def new_order(client: RawFixClient, cl_ord_id: str, symbol: str, side: str, qty: str, ord_type: str = "2",
              price: str | None = None, tif: str = "1", stop: str | None = None) -> None:
    fields: list[tuple[int, object]] = [(11, cl_ord_id), (1, "ACC1"), (55, symbol), (54, side),
                                        (60, "20260101-00:00:00"), (38, qty), (40, ord_type), (59, tif)]
    if price is not None:
        fields.append((44, price))
    if stop is not None:
        fields.append((99, stop))
    client.send("D", fields)


def reports(client: RawFixClient, cl_ord_id: str, until_status: set[str]) -> list[simplefix.FixMessage]:
    out = []
    while True:
        er = client.expect(lambda m: m.get(35) == b"8" and m.get(11) == cl_ord_id.encode())
        out.append(er)
        if value(er, 39) in until_status:
            return out


def snapshot_of(client: RawFixClient, symbol: str) -> dict[str, list[tuple[Decimal, Decimal]]]:
    snap = client.expect(lambda m: m.get(35) == b"W" and m.get(55) == symbol.encode())
    book: dict[str, list[tuple[Decimal, Decimal]]] = {"0": [], "1": [], "2": []}
    for i in range(1, int(value(snap, 268) or 0) + 1):
        kind = value(snap, 269, i) or ""
        book.setdefault(kind, []).append((Decimal(value(snap, 270, i) or "0"), Decimal(value(snap, 271, i) or "0")))
    return book


def test_market_order_fills_against_the_market_makers(gateway: RawFixClient, mdfeed: RawFixClient) -> None:
    mdfeed.send("V", [(262, "top"), (263, "0"), (264, "1"), (267, 1), (269, "1"), (146, 1), (55, "AAPL")])
    best_ask = snapshot_of(mdfeed, "AAPL")["1"][0][0]
    new_order(gateway, "mkt-1", "AAPL", "1", "1000", ord_type="1", tif="0")
    ers = reports(gateway, "mkt-1", {"2", "4", "8"})
    assert (value(ers[0], 150), value(ers[0], 39)) == ("0", "0")
    fills = [er for er in ers if value(er, 150) == "F"]
    assert fills and value(ers[-1], 39) == "2"
    assert sum(Decimal(value(f, 32) or "0") for f in fills) == 1000
    last = ers[-1]
    assert Decimal(value(last, 14) or "0") == 1000 and Decimal(value(last, 151) or "-1") == 0
    assert Decimal(value(last, 6) or "0") >= best_ask - Decimal("0.5")
    assert all(value(f, 851) == "2" for f in fills) and value(last, 1) == "ACC1"
    exec_ids = [value(er, 17) for er in ers]
    assert len(set(exec_ids)) == len(exec_ids)


def test_limit_order_rests_then_cancel_and_replace(gateway: RawFixClient) -> None:
    new_order(gateway, "lim-1", "MSFT", "1", "300", price="1.00")
    [ack] = reports(gateway, "lim-1", {"0"})
    order_id = value(ack, 37)
    gateway.send("G", [(37, order_id), (41, "lim-1"), (11, "lim-2"), (55, "MSFT"), (54, "1"),
                       (60, "20260101-00:00:00"), (38, "200"), (40, "2"), (44, "1.00"), (59, "1")])
    [replaced] = reports(gateway, "lim-2", {"0"})
    assert (value(replaced, 150), value(replaced, 41), value(replaced, 38)) == ("5", "lim-1", "200")
    assert value(replaced, 151) == "200" and value(replaced, 37) == order_id
    gateway.send("H", [(11, "lim-2"), (55, "MSFT"), (54, "1")])
    status = gateway.expect_type("8", t150="I")
    assert value(status, 39) == "0" and value(status, 11) == "lim-2"
    gateway.send("F", [(41, "lim-2"), (11, "lim-3"), (55, "MSFT"), (54, "1"), (60, "20260101-00:00:00"),
                       (38, "200")])
    [canceled] = reports(gateway, "lim-3", {"4"})
    assert (value(canceled, 150), value(canceled, 41), value(canceled, 151)) == ("4", "lim-2", "0")
    gateway.send("F", [(41, "lim-3"), (11, "lim-4"), (55, "MSFT"), (54, "1"), (60, "20260101-00:00:00"),
                       (38, "200")])
    too_late = gateway.expect_type("9", t11="lim-4")
    assert (value(too_late, 102), value(too_late, 434), value(too_late, 39)) == ("0", "1", "4")


@pytest.mark.parametrize(("symbol", "qty", "price", "reason", "text"), [
    ("NOPE", "100", "10.00", "1", "unknown symbol"),
    ("MSFT", "100", "10.005", "18", "tick size"),
    ("MSFT", "0", "10.00", "13", "quantity"),
    ("MSFT", "10.5", "10.00", "13", "quantity"),
])
def test_bad_orders_get_a_reject_with_a_reason(gateway: RawFixClient, symbol: str, qty: str, price: str,
                                                reason: str, text: str) -> None:
    cl_ord_id = f"bad-{symbol}-{qty}-{price}"
    new_order(gateway, cl_ord_id, symbol, "2", qty, price=price)
    [er] = reports(gateway, cl_ord_id, {"8"})
    assert (value(er, 150), value(er, 103)) == ("8", reason)
    assert text in (value(er, 58) or "")


def test_unknown_order_cancel_and_duplicate_clordid(gateway: RawFixClient) -> None:
    gateway.send("F", [(41, "never-sent"), (11, "c-1"), (55, "MSFT"), (54, "1"), (60, "20260101-00:00:00")])
    reject = gateway.expect_type("9", t11="c-1")
    assert (value(reject, 102), value(reject, 37), value(reject, 58)) == ("1", "NONE", "unknown order")
    new_order(gateway, "dup-1", "MSFT", "1", "100", price="1.00")
    reports(gateway, "dup-1", {"0"})
    new_order(gateway, "dup-1", "MSFT", "1", "100", price="1.00")
    [dup] = reports(gateway, "dup-1", {"8"})
    assert value(dup, 103) == "6"


def test_market_data_snapshot_then_increments(gateway: RawFixClient, mdfeed: RawFixClient) -> None:
    mdfeed.send("V", [(262, "md-1"), (263, "1"), (264, "5"), (267, 3), (269, "0"), (269, "1"), (269, "2"),
                      (146, 2), (55, "AAPL"), (55, "F")])
    book = snapshot_of(mdfeed, "AAPL")
    snapshot_of(mdfeed, "F")
    # five levels a side, give or take one the taker flow has just emptied before the makers refill
    assert 4 <= len(book["0"]) <= 5 and 4 <= len(book["1"]) <= 5
    assert book["0"][0][0] < book["1"][0][0]
    assert [p for p, _ in book["0"]] == sorted((p for p, _ in book["0"]), reverse=True)
    assert [p for p, _ in book["1"]] == sorted(p for p, _ in book["1"])
    new_order(gateway, "md-hit", "AAPL", "2", "500", ord_type="1", tif="3")
    reports(gateway, "md-hit", {"2", "4"})
    increment = mdfeed.expect(lambda m: m.get(35) == b"X" and m.get(262) == b"md-1")
    count = int(value(increment, 268) or 0)
    assert count >= 1
    actions = {value(increment, 279, i) for i in range(1, count + 1)}
    assert actions <= {"0", "1", "2"}
    symbols = {value(increment, 55, i) for i in range(1, count + 1)}
    assert symbols <= {"AAPL", "F"}
    mdfeed.send("V", [(262, "md-bad"), (263, "1"), (264, "1"), (267, 1), (269, "0"), (146, 1), (55, "ZZZZ")])
    reject = mdfeed.expect_type("Y", t262="md-bad")
    assert value(reject, 281) == "0" and "ZZZZ" in (value(reject, 58) or "")


def test_market_data_session_may_not_send_orders(mdfeed: RawFixClient) -> None:
    new_order(mdfeed, "md-order", "AAPL", "1", "100", price="1.00")
    reject = mdfeed.expect_type("j")
    assert value(reject, 380) == "6"


def test_restart_resumes_sessions_orders_and_keeps_exec_ids_unique(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    seen: set[str] = set()
    seq = 1
    for round_ in range(2):
        proc = start_exchange(tmp_path, port)
        try:
            client = RawFixClient(port, "GATEWAY", seq=seq)
            logon = client.logon(reset=False)
            if round_ == 1:
                assert int(value(logon, 34) or 0) > 2, "exchange restarted its sequence numbers"
            new_order(client, f"r{round_}", "MSFT", "1", "100", price="1.00")
            [ack] = reports(client, f"r{round_}", {"0"})
            seen.add(value(ack, 17) or "")
            if round_ == 0:
                kept_order_id = value(ack, 37)
            else:  # the order left resting at the clean shutdown is still there
                client.send("F", [(41, "r0"), (11, "r0-cancel"), (55, "MSFT"), (54, "1"),
                                  (60, "20260101-00:00:00")])
                [canceled] = reports(client, "r0-cancel", {"4"})
                assert value(canceled, 37) == kept_order_id and value(canceled, 41) == "r0"
                seen.add(value(canceled, 17) or "")
            client.send("5", [])
            client.expect_type("5")
            seq = client.seq
            client.close()
        finally:
            stop_exchange(proc)
        time.sleep(0.2)
    assert len(seen) == 3


def test_malformed_and_unsupported_messages_are_rejected_not_fatal(gateway: RawFixClient) -> None:
    gateway.send("D", [(11, "junk-1"), (55, "MSFT"), (54, "1"), (60, "20260101-00:00:00"), (38, "abc"), (40, "2"),
                       (44, "1.00")])
    reject = gateway.expect_type("3")
    assert value(reject, 371) == "38"
    gateway.send("R", [(131, "quote-1"), (146, 1), (55, "MSFT")])
    business = gateway.expect_type("j")
    assert value(business, 380) == "3" and value(business, 372) == "R"
    new_order(gateway, "after-junk", "MSFT", "1", "100", price="1.00")  # the session carries on
    [ack] = reports(gateway, "after-junk", {"0"})
    assert value(ack, 150) == "0"
