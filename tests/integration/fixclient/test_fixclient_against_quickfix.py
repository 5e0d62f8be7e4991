"""The light client against a real QuickFIX acceptor that validates every message with FIX44.xml."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from quickfix_echo import EchoAcceptor

from fixclient import events as ev
from fixclient.client import FixClient, LogonRejected, SessionClosed
from fixclient.codec import encode_message, format_utc_timestamp
from fixclient.session import ResendMode, SessionState

pytestmark = pytest.mark.integration


async def connect(acceptor: EchoAcceptor, **kwargs: object) -> FixClient:
    options: dict[str, object] = {"password": "demo1", **kwargs}
    return await FixClient.connect("127.0.0.1", acceptor.port, "CLIENT1", "BROKER", **options)  # type: ignore[arg-type]


def client_sent(acceptor: EchoAcceptor, msg_type: str) -> list[str]:
    return [m for m in acceptor.app.seen.admin + acceptor.app.seen.app if f"|35={msg_type}|" in m]


async def test_logon_with_password_and_logout(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor, username="client1")
    await client.logon()
    assert client.state is SessionState.ACTIVE
    [logon] = client_sent(acceptor, "A")
    assert "|554=demo1|" in logon and "|553=client1|" in logon and "|108=30|" in logon
    await client.logout()
    assert client.is_closed and client.closed_reason == "logged out"
    assert await acceptor.wait_until(lambda: acceptor.app.seen.logouts == 1)
    assert any(isinstance(e, ev.LoggedOut) and not e.initiated_by_peer for e in client.events)


async def test_wrong_password_is_refused(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor, password="guess")
    with pytest.raises(LogonRejected, match="invalid password"):
        await client.logon()
    assert client.is_closed
    with pytest.raises(SessionClosed):
        await client.new_order_single("AAPL", "buy", 1, "market")


async def test_heartbeats_flow_both_ways_with_a_short_interval(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor, heartbeat=1)
    await client.logon()
    await asyncio.sleep(2.6)
    assert sum(isinstance(e, ev.HeartbeatReceived) for e in client.events) >= 2
    assert sum(isinstance(e, ev.HeartbeatSent) for e in client.events) >= 2
    assert len(client_sent(acceptor, "0")) >= 2
    assert client.state is SessionState.ACTIVE
    await client.logout()


async def test_acceptor_test_request_is_answered(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    acceptor.send("1", [(112, "PING-1")])
    assert await acceptor.wait_until(lambda: any("|112=PING-1|" in m for m in client_sent(acceptor, "0")))
    await client.logout()


async def test_order_cancel_replace_status_get_their_reports(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    cl_ord_id = await client.new_order_single("AAPL", "buy", 100, "limit", price="190.50", account="ACC1")
    report = await client.next_execution_report(cl_ord_id, timeout=5)
    assert (report.exec_type, report.ord_status, report.symbol, report.side) == ("0", "0", "AAPL", "1")
    assert report.leaves_qty == Decimal("100") and report.cum_qty == Decimal("0")
    replace_id = await client.replace(cl_ord_id, qty=50, price="191")
    replaced = await client.next_execution_report(replace_id, timeout=5)
    assert (replaced.exec_type, replaced.orig_cl_ord_id, replaced.leaves_qty) == ("5", cl_ord_id, Decimal("50"))
    await client.order_status(replace_id)
    status = await client.next_execution_report(replace_id, timeout=5)
    assert status.exec_type == "I"
    cancel_id = await client.cancel(replace_id)
    canceled = await client.next_execution_report(cancel_id, timeout=5)
    assert (canceled.exec_type, canceled.orig_cl_ord_id, canceled.leaves_qty) == ("4", replace_id, Decimal("0"))
    [order] = client_sent(acceptor, "D")
    assert "|44=190.50|" in order and "|1=ACC1|" in order and "|40=2|" in order
    assert "|38=50|" in client_sent(acceptor, "G")[0] and "|41=" + cl_ord_id + "|" in client_sent(acceptor, "G")[0]
    assert not [m for m in client.history if m.msg_type == "3"]  # QuickFIX validated all four messages
    await client.logout()


async def test_acceptor_gap_makes_the_client_ask_for_a_resend(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    acceptor.skip_sender_seq_nums(3)
    cl_ord_id = await client.new_order_single("MSFT", "sell", 10, "market")
    report = await client.next_execution_report(cl_ord_id, timeout=5)
    assert report.exec_type == "0"
    gaps = [e for e in client.events if isinstance(e, ev.GapDetected)]
    assert gaps and gaps[0].resend_request_sent
    assert any(isinstance(e, ev.GapFilled) for e in client.events)
    [resend] = client_sent(acceptor, "2")
    assert "|7=2|" in resend and "|16=0|" in resend
    assert client.next_target_seq_num == acceptor.session.getExpectedSenderNum()
    await client.logout()


async def test_client_gap_is_filled_and_the_queued_order_replayed(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    client.session.consume_sender_seq_num(0.0)  # a MsgSeqNum that never goes out
    cl_ord_id = await client.new_order_single("IBM", "buy", 5, "market")
    report = await client.next_execution_report(cl_ord_id, timeout=5)  # QuickFIX queued it until the fill
    assert report.cl_ord_id == cl_ord_id
    assert [e for e in client.events if isinstance(e, ev.ResendAnswered)] == [ev.ResendAnswered(2, 3, 1)]
    assert any("|123=Y|" in m and "|36=3|" in m for m in client_sent(acceptor, "4"))
    assert len(client_sent(acceptor, "D")) == 1  # queued original or replayed copy: processed once
    await client.logout()


async def test_gap_fill_mode_loses_an_order_the_acceptor_had_queued(acceptor: EchoAcceptor) -> None:
    """Why REPLAY is the default: a gap fill over a live order makes QuickFIX drop it."""
    client = await connect(acceptor, resend_mode=ResendMode.GAP_FILL)
    await client.logon()
    client.session.consume_sender_seq_num(0.0)
    cl_ord_id = await client.new_order_single("IBM", "buy", 5, "market")
    with pytest.raises(TimeoutError):
        await client.next_execution_report(cl_ord_id, timeout=1.5)
    assert client_sent(acceptor, "D") == []
    assert await acceptor.wait_until(lambda: acceptor.session.getExpectedTargetNum() == client.next_sender_seq_num)
    await client.logout()


async def test_garbled_bytes_are_ignored_and_the_session_goes_on(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    header = [(49, "CLIENT1"), (56, "BROKER"), (34, client.next_sender_seq_num), (52, format_utc_timestamp())]
    good = encode_message("0", header, [])
    await client.send_raw(good[:-4] + (b"000" if good[-4:-1] != b"000" else b"001") + b"\x01")
    cl_ord_id = await client.new_order_single("AAPL", "buy", 1, "market")
    assert (await client.next_execution_report(cl_ord_id, timeout=5)).exec_type == "0"
    assert client.state is SessionState.ACTIVE
    await client.logout()


async def test_message_missing_a_required_tag_earns_a_session_reject(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    seq = client.next_sender_seq_num
    header = [(49, "CLIENT1"), (56, "BROKER"), (34, seq), (52, format_utc_timestamp())]
    no_side = encode_message("D", header, [(11, "BAD-1"), (55, "AAPL"), (60, format_utc_timestamp()),
                                           (38, 1), (40, "1")])
    await client.send_raw(no_side, consumes_seq_num=True)
    reject = await client.wait_for(lambda m: m.msg_type == "3" and m.get(45) == str(seq), timeout=5)
    assert reject.get(373) == "1" and reject.get(371) == "54"
    cl_ord_id = await client.new_order_single("AAPL", "buy", 1, "market")  # still in sequence
    await client.next_execution_report(cl_ord_id, timeout=5)
    await client.logout()


async def test_reconnect_with_the_seq_num_file_recovers_reports_sent_while_away(
        acceptor: EchoAcceptor, tmp_path: Path) -> None:
    store = tmp_path / "client1-seq.json"
    client = await connect(acceptor, store_path=store)
    await client.logon()
    first = await client.new_order_single("AAPL", "buy", 1, "market")
    await client.next_execution_report(first, timeout=5)
    await client.close("simulated crash")  # no Logout: the acceptor keeps its numbers too
    assert await acceptor.wait_until(lambda: acceptor.app.seen.logouts == 1)
    # A report produced while the client is away is stored by QuickFIX under the next MsgSeqNum.
    acceptor.send("8", [(37, "O-X"), (11, first), (17, "E-AWAY"), (150, "F"), (39, "2"), (55, "AAPL"), (54, "1"),
                        (32, "1"), (31, "190"), (151, "0"), (14, "1"), (6, "190")])
    again = await connect(acceptor, store_path=store)
    assert (again.next_sender_seq_num, again.next_target_seq_num) == (
        client.next_sender_seq_num, client.next_target_seq_num)
    await again.logon()
    fill = await again.next_execution_report(first, timeout=5)
    assert (fill.exec_id, fill.exec_type, fill.last_px) == ("E-AWAY", "F", Decimal("190"))
    assert fill.raw.poss_dup
    await again.logout()


async def test_messages_iterator_yields_reports_in_order(acceptor: EchoAcceptor) -> None:
    client = await connect(acceptor)
    await client.logon()
    received: list[str | None] = []

    async def collect() -> None:
        async for msg in client.messages():
            received.append(msg.get(11))
            if len(received) == 3:
                return

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0)
    ids = [await client.new_order_single("AAPL", "buy", n, "market") for n in (1, 2, 3)]
    await asyncio.wait_for(collector, 5)
    assert received == ids
    await client.logout()


async def test_acceptor_restart_resends_what_the_client_missed(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    """The gateway-restart case: reports stored while the client was away survive the acceptor's
    restart (QuickFIX FileStore) and are resent when the client resumes with its saved numbers."""
    store = tmp_path / "client1-seq.json"
    client = await connect(acceptor, store_path=store)
    await client.logon()
    first = await client.new_order_single("AAPL", "buy", 5, "market")
    await client.next_execution_report(first, timeout=5)
    await client.close("simulated crash")
    assert await acceptor.wait_until(lambda: acceptor.app.seen.logouts == 1)
    acceptor.send("8", [(37, "O-R"), (11, first), (17, "E-RESTART"), (150, "F"), (39, "2"), (55, "AAPL"),
                        (54, "1"), (32, "5"), (31, "190.25"), (151, "0"), (14, "5"), (6, "190.25")])
    acceptor.stop()
    restarted = EchoAcceptor(tmp_path / "acceptor", acceptor.port)  # same store directory, same port
    restarted.start()
    try:
        again = await connect(restarted, store_path=store)
        await again.logon()
        fill = await again.next_execution_report(first, timeout=5)
        assert (fill.exec_id, fill.last_qty, fill.last_px, fill.raw.poss_dup) == (
            "E-RESTART", Decimal(5), Decimal("190.25"), True)
        assert any(isinstance(e, ev.GapDetected) for e in again.events)
        await again.logout()
    finally:
        restarted.stop()
    assert restarted.app.seen.errors == []
