"""Reports built from their text equal the field-by-field ones (ADR 020)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import quickfix44 as fix44

from exchange import fix_codec
from exchange.reports import CancelReject, ExecReport


def _report(**changes: object) -> ExecReport:
    base: dict[str, object] = dict(
        session="FIX.4.4:EXCHANGE->GATEWAY", order_id="X1", cl_ord_id="O1", exec_id="R1-1", exec_type="F",
        ord_status="2", symbol="AAPL", side="1", order_qty=Decimal("10"), leaves_qty=Decimal(0),
        cum_qty=Decimal("10.0"), avg_px=Decimal("309.20"), ord_type="2", time_in_force="3", price=Decimal("310"),
        stop_px=None, orig_cl_ord_id=None, last_qty=Decimal(10), last_px=Decimal("309.2"), last_liquidity_ind="1",
        ord_rej_reason=None, text=None, account="ACC-1", poss_resend=False)
    base.update(changes)
    return ExecReport(**base)  # type: ignore[arg-type]


def _slow(r: ExecReport) -> str:
    m = fix44.ExecutionReport()
    for tag, value in ((37, r.order_id), (11, r.cl_ord_id), (41, r.orig_cl_ord_id), (17, r.exec_id),
                       (150, r.exec_type), (39, r.ord_status), (103, r.ord_rej_reason), (1, r.account),
                       (55, r.symbol), (54, r.side), (38, r.order_qty), (40, r.ord_type), (44, r.price),
                       (99, r.stop_px), (59, r.time_in_force), (32, r.last_qty), (31, r.last_px),
                       (151, r.leaves_qty), (14, r.cum_qty), (6, r.avg_px), (60, "T"),
                       (851, r.last_liquidity_ind), (58, r.text)):
        fix_codec._set(m, tag, value)
    if r.poss_resend:
        m.getHeader().setField(97, "Y")
    return str(m.toString())


@pytest.mark.parametrize("report", [
    _report(), _report(poss_resend=True, text="résumé = ok"), _report(exec_type="8", ord_rej_reason=1, text=""),
    _report(text="a\x01b"),  # SOH in a value: field by field
])
def test_execution_report_text_equals_field_by_field(report: ExecReport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fix_codec, "utc_timestamp", lambda: "T")
    assert str(fix_codec.execution_report(report).toString()) == _slow(report)


def test_cancel_reject(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fix_codec, "utc_timestamp", lambda: "T")
    text = str(fix_codec.cancel_reject(CancelReject("s", "X1", "O1.1", "O1", "0", "1", 1, "too late", "A")).toString())
    assert "\x0135=9\x01" in text and "\x01102=1\x01" in text and "\x0158=too late\x01" in text


def test_order_request_read_from_the_text_equals_the_field_by_field_read() -> None:
    import quickfix as fix

    m = fix.Message()
    m.getHeader().setField(fix.MsgType("D"))
    for tag, value in ((11, "O1"), (55, "AAPL"), (54, "1"), (40, "2"), (38, "10"), (44, "309.5"), (1, "A=1")):
        m.setField(tag, value)
    assert isinstance(fix_codec.crack(m), fix_codec._Cracked)
    request = fix_codec.order_request(m)
    assert (request.cl_ord_id, request.qty, request.price, request.account, request.time_in_force) == (
        "O1", Decimal(10), Decimal("309.5"), "A=1", "0")
    m.setField(354, "3")
    m.setField(355, "a\x01b")
    assert fix_codec.crack(m) is m  # a data field: read through the binding
    with pytest.raises(fix_codec.Malformed):
        fix_codec.order_request(fix.Message())
