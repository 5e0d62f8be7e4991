"""The light client as the gateway's exchange link (GATEWAY) and as a market-data feed (MDFEED)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fixclient.client import FixClient

pytestmark = pytest.mark.integration


async def session(port: int, sender: str) -> FixClient:
    client = await FixClient.connect("127.0.0.1", port, sender, "EXCHANGE", reset_seq_num=True)
    await client.logon()
    return client


async def test_resting_order_replace_status_cancel(exchange_port: int) -> None:
    client = await session(exchange_port, "GATEWAY")
    first = await client.new_order_single("MSFT", "buy", 300, "limit", price="1.00", tif="gtc", account="ACC1")
    ack = await client.next_execution_report(first)
    assert (ack.exec_type, ack.ord_status, ack.leaves_qty, ack.cum_qty) == ("0", "0", Decimal(300), Decimal(0))
    second = await client.replace(first, qty=200)
    replaced = await client.next_execution_report(second)
    assert (replaced.exec_type, replaced.orig_cl_ord_id, replaced.leaves_qty) == ("5", first, Decimal(200))
    await client.order_status(second)
    status = await client.next_execution_report(second)
    assert (status.exec_type, status.ord_status) == ("I", "0")
    third = await client.cancel(second)
    canceled = await client.next_execution_report(third)
    assert (canceled.exec_type, canceled.ord_status, canceled.leaves_qty) == ("4", "4", Decimal(0))
    fourth = await client.cancel(third, symbol="MSFT", side="buy")
    too_late = await client.next_cancel_reject(fourth)
    assert (too_late.cxl_rej_response_to, too_late.orig_cl_ord_id) == ("1", third)
    await client.logout()


async def test_market_order_fills_with_exact_decimals(exchange_port: int) -> None:
    client = await session(exchange_port, "GATEWAY")
    cl_ord_id = await client.new_order_single("AAPL", "buy", 250, "market")
    reports = [await client.next_execution_report(cl_ord_id)]
    while reports[-1].ord_status not in ("2", "4", "8"):
        reports.append(await client.next_execution_report(cl_ord_id))
    fills = [r for r in reports if r.exec_type == "F"]
    assert reports[-1].ord_status == "2" and fills
    assert sum((f.last_qty or Decimal(0) for f in fills), Decimal(0)) == 250
    assert all(isinstance(f.last_px, Decimal) and f.last_px > 0 for f in fills)
    assert len({r.exec_id for r in reports}) == len(reports)
    await client.logout()


async def test_bad_order_is_rejected_with_a_reason(exchange_port: int) -> None:
    client = await session(exchange_port, "GATEWAY")
    cl_ord_id = await client.new_order_single("MSFT", "sell", 100, "limit", price="10.005")
    report = await client.next_execution_report(cl_ord_id)
    assert (report.exec_type, report.ord_rej_reason) == ("8", 18)
    assert report.text and "tick" in report.text
    await client.logout()


async def test_market_data_snapshot(exchange_port: int) -> None:
    feed = await session(exchange_port, "MDFEED")
    md_req_id = await feed.market_data_request(["AAPL"], depth=5, entry_types=("0", "1"))
    snapshot = await feed.wait_for(lambda m: m.msg_type == "W" and m.get(262) == md_req_id, timeout=10)
    sides = snapshot.get_all(269)
    prices = [Decimal(p) for p in snapshot.get_all(270)]
    bids = [p for s, p in zip(sides, prices, strict=True) if s == "0"]
    asks = [p for s, p in zip(sides, prices, strict=True) if s == "1"]
    assert bids and asks and max(bids) < min(asks)
    await feed.logout()
