"""Metric helpers keep labels bounded and never raise into QuickFIX; the scrape-time collectors read live
objects defensively (a missing attribute is a 0, never a failed scrape)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import quickfix as fix
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from fixsession.metrics import FixSessionsCollector, count_message
from gateway.frontdoor.metrics import FrontDoorCollector
from gateway.oms import metrics as oms
from gateway.oms.model import OrdRejReason


class _App:
    name = "unit-app"


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _message(msg_type: str) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(fix.MsgType(msg_type))
    return message


def test_message_types_outside_fix44_count_as_other_and_resends_are_counted() -> None:
    before = _sample("brokerage_fix_messages_total", app="unit-app", direction="in", msg_type="other")
    resends = _sample("brokerage_fix_resend_requests_total", app="unit-app", direction="in")
    for junk in ("ZZ", "x" * 40, "U9"):
        count_message(_App(), "in", _message(junk))
    count_message(_App(), "in", _message("2"))
    count_message(_App(), "in", fix.Message())  # no MsgType at all
    assert _sample("brokerage_fix_messages_total", app="unit-app", direction="in", msg_type="other") >= before + 3
    assert _sample("brokerage_fix_resend_requests_total", app="unit-app", direction="in") == resends + 1


def test_count_message_never_raises() -> None:
    count_message(_App(), "out", None)  # type: ignore[arg-type]


def test_rejects_are_labelled_by_reason_name() -> None:
    before = _sample("brokerage_order_rejects_total", reason="broker_credit")
    rejected = _sample("brokerage_orders_total", outcome="rejected")
    oms.order_rejected(OrdRejReason.BROKER_CREDIT)
    assert _sample("brokerage_order_rejects_total", reason="broker_credit") == before + 1
    assert _sample("brokerage_orders_total", outcome="rejected") == rejected + 1


def test_accepted_orders_observe_the_gateway_hop_and_venue_reports_their_exec_type() -> None:
    acks = _sample("brokerage_order_ack_seconds_count", hop="gateway")
    oms.order_decided(datetime.now(UTC) - timedelta(milliseconds=3), object())
    oms.order_decided(datetime.now(UTC), None)  # a reject: counted by order_rejected, not here
    assert _sample("brokerage_order_ack_seconds_count", hop="gateway") == acks + 1

    class Report:
        def __init__(self, exec_type: str) -> None:
            self.exec_type = exec_type

    fills = _sample("brokerage_order_fill_seconds_count", hop="booking")
    oms.venue_batch_done([Report("F"), Report("0"), Report("?"), object()], oms.clock())
    assert _sample("brokerage_order_fill_seconds_count", hop="booking") == fills + 1
    assert _sample("brokerage_venue_reports_total", exec_type="other") >= 1


def test_collectors_tolerate_missing_objects() -> None:
    registry = CollectorRegistry()
    registry.register(oms.OrderPathCollector(None))
    registry.register(FrontDoorCollector(None))
    registry.register(FixSessionsCollector({"client": list}))
    text = generate_latest(registry).decode()
    assert 'brokerage_queue_depth{queue="client_requests"} 0.0' in text
    assert "brokerage_frontdoor_connections 0.0" in text
    assert 'brokerage_fix_sessions_logged_on{link="client"} 0.0' in text


def test_queue_depth_reads_lanes_and_queues() -> None:
    class Lane:
        def __init__(self, items: int) -> None:
            self.queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(items):
                self.queue.put_nowait(i)

    class Lanes:
        def __init__(self) -> None:
            self._lanes = {"A": Lane(2), "B": Lane(1)}

    class Service:
        lanes = Lanes()

    class Venue:
        def __init__(self) -> None:
            self._lanes = [Lane(4).queue]

    class Path:
        service = Service()
        venue_reports = Venue()
        pool = None

    registry = CollectorRegistry()
    registry.register(oms.OrderPathCollector(Path()))
    assert registry.get_sample_value("brokerage_queue_depth", {"queue": "client_requests"}) == 3
    assert registry.get_sample_value("brokerage_queue_depth", {"queue": "venue_reports"}) == 4
