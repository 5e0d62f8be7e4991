"""Order bodies we send, typed ExecutionReports we read, and the sequence-number file."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fixclient.codec import Frame, FrameReader, encode_message
from fixclient.messages import (
    ExecutionReport,
    InboundMessage,
    OrderCancelReject,
    cancel_body,
    market_data_request_body,
    new_order_single_body,
    replace_body,
    ticket,
)
from fixclient.store import SeqNums, SeqNumStore, StoreError

NOW = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


def inbound(msg_type: str, body: list[tuple[int, object]]) -> InboundMessage:
    header: list[tuple[int, object]] = [(49, "BROKER"), (56, "CLIENT1"), (34, 9), (52, "20261121-10:00:00.000")]
    [frame] = FrameReader().feed(encode_message(msg_type, header, body))
    assert isinstance(frame, Frame)
    return InboundMessage.from_frame(frame)


def test_limit_order_body_uses_fix_codes_and_exact_decimals() -> None:
    t = ticket("AAPL", "buy", 100, "limit", "190.50", None, "day", "ACC-1")
    body = dict(new_order_single_body("C1", t, NOW))
    assert body[11] == "C1" and body[1] == "ACC-1" and body[55] == "AAPL"
    assert (body[54], body[40], body[59]) == ("1", "2", "0")
    assert body[38] == Decimal("100") and str(body[44]) == "190.50"
    assert body[60] == "20261121-10:00:00.000"
    assert 99 not in body


def test_stop_limit_order_carries_both_prices() -> None:
    body = dict(new_order_single_body("C1", ticket("MSFT", "sell", "5", "4", "300", "301.5", "ioc", None), NOW))
    assert (body[40], body[44], body[99], body[59], body[54]) == ("4", Decimal("300"), Decimal("301.5"), "3", "2")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("AAPL", "buy", 0, "limit", "1", None, "0", None), "quantity"),
        (("AAPL", "buy", "-5", "market", None, None, "0", None), "quantity"),
        (("AAPL", "buy", "NaN", "market", None, None, "0", None), "quantity"),
        (("AAPL", "buy", 10, "limit", None, None, "0", None), "needs a price"),
        (("AAPL", "buy", 10, "stop", None, None, "0", None), "stop price"),
        (("AAPL", "hold", 10, "market", None, None, "0", None), "side"),
        (("AAPL", "buy", 10, "iceberg", None, None, "0", None), "order type"),
        (("AAPL", "buy", 10, "market", None, None, "forever", None), "time in force"),
        (("", "buy", 10, "market", None, None, "0", None), "symbol"),
    ],
)
def test_nonsense_orders_are_refused_with_a_clear_error(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        ticket(*args)


def test_cancel_and_replace_reference_the_original_order() -> None:
    cancel = dict(cancel_body("C2", "C1", "AAPL", "buy", Decimal("100"), None, NOW))
    assert (cancel[41], cancel[11], cancel[54], cancel[38]) == ("C1", "C2", "1", Decimal("100"))
    assert 38 not in dict(cancel_body("C2", "C1", "AAPL", "2", None, None, NOW))
    replace = dict(replace_body("C3", "C1", ticket("AAPL", "1", 50, "2", "191", None, "0", None), NOW))
    assert (replace[41], replace[11], replace[38], replace[44]) == ("C1", "C3", Decimal("50"), Decimal("191"))


def test_market_data_request_repeating_groups() -> None:
    body = market_data_request_body("MD1", ["AAPL", "MSFT"], True, 1, ["0", "1"])
    assert body == [(262, "MD1"), (263, "1"), (264, 1), (265, "1"), (267, 2), (269, "0"), (269, "1"),
                    (146, 2), (55, "AAPL"), (55, "MSFT")]
    with pytest.raises(ValueError):
        market_data_request_body("MD1", [], True, 1, ["0"])


def test_execution_report_reads_decimals_exactly() -> None:
    msg = inbound("8", [(37, "O1"), (11, "C1"), (17, "E1"), (150, "F"), (39, "1"), (55, "AAPL"), (54, "1"),
                        (32, "40"), (31, "190.123456"), (14, "40"), (151, "60"), (6, "190.123456"), (38, "100")])
    report = ExecutionReport.from_message(msg)
    assert (report.cl_ord_id, report.order_id, report.exec_id, report.exec_type, report.ord_status) == (
        "C1", "O1", "E1", "F", "1")
    assert report.last_px == Decimal("190.123456") and report.leaves_qty == Decimal("60")
    assert report.ord_rej_reason is None and report.raw.seq_num == 9


def test_rejected_report_has_reason_and_text() -> None:
    msg = inbound("8", [(11, "C1"), (150, "8"), (39, "8"), (103, "3"), (58, "insufficient buying power")])
    report = ExecutionReport.from_message(msg)
    assert (report.ord_rej_reason, report.text) == (3, "insufficient buying power")


@pytest.mark.parametrize("tag_value", [(31, "abc"), (14, "Infinity"), (103, "x")])
def test_execution_report_with_bad_numbers_is_a_value_error(tag_value: tuple[int, str]) -> None:
    with pytest.raises(ValueError):
        ExecutionReport.from_message(inbound("8", [(11, "C1"), tag_value]))


def test_cancel_reject_view() -> None:
    reject = OrderCancelReject.from_message(inbound("9", [(11, "C2"), (41, "C1"), (37, "O1"), (39, "2"), (434, "1"),
                                                          (102, "0"), (58, "too late to cancel")]))
    assert (reject.cl_ord_id, reject.orig_cl_ord_id, reject.cxl_rej_response_to, reject.text) == (
        "C2", "C1", "1", "too late to cancel")


def test_repeating_tags_are_all_readable() -> None:
    msg = inbound("W", [(262, "MD1"), (55, "AAPL"), (268, 2), (269, "0"), (270, "190"), (269, "1"), (270, "191")])
    assert msg.get_all(270) == ["190", "191"]


def test_seq_num_store_round_trip_and_bad_files(tmp_path: Path) -> None:
    store = SeqNumStore(tmp_path / "sub" / "seq.json")
    assert store.load() is None
    store.save(SeqNums(12, 34))
    assert SeqNumStore(tmp_path / "sub" / "seq.json").load() == SeqNums(12, 34)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(StoreError):
        SeqNumStore(tmp_path / "bad.json").load()
    (tmp_path / "zero.json").write_text('{"next_sender_seq_num": 0, "next_target_seq_num": 1}')
    with pytest.raises(StoreError):
        SeqNumStore(tmp_path / "zero.json").load()
