"""The event contract: payload round trip, malformed payloads kept (never raised), producer mistakes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.events import HOPS, AuditEvent, InvalidEvent, from_outbox

T0 = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)
decimals = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("999999"), places=4)


def order_event(**kw: object) -> AuditEvent:
    fields: dict[str, object] = dict(
        event_type="order.accepted", account_id="ACC1", actor="fix:CLIENT1", symbol="AAPL", side="buy",
        ord_type="limit", qty=Decimal("100"), price=Decimal("50.25"), cl_ord_id="C1", order_id="O1",
        bid=Decimal("50.20"), ask=Decimal("50.30"), last=Decimal("50.25"),
        hops={"received": T0, "risk_checked": T0 + timedelta(microseconds=40)}, occurred_at=T0,
    )
    fields.update(kw)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def roundtrip(event: AuditEvent) -> AuditEvent:
    payload = orjson.dumps(event.to_payload()).decode()  # what jsonb hands back
    return from_outbox(str(event.event_id), event.event_type, event.occurred_at, event.account_id, payload)


def test_payload_round_trip_keeps_every_field() -> None:
    event = order_event(extra={"venue": "SIM"})
    assert roundtrip(event) == event


@settings(max_examples=100)
@given(qty=decimals, px=decimals, hop_us=st.lists(st.integers(0, 10**9), min_size=len(HOPS), max_size=len(HOPS)))
def test_round_trip_property(qty: Decimal, px: Decimal, hop_us: list[int]) -> None:
    hops = {hop: T0 + timedelta(microseconds=us) for hop, us in zip(HOPS, hop_us, strict=True)}
    event = order_event(event_type="order.fill", last_qty=qty, last_px=px, hops=hops)
    assert roundtrip(event) == event


def test_malformed_values_are_kept_under_invalid_not_raised() -> None:
    payload = {"qty": "ten", "price": None, "quote": {"bid": "x", "ask": "50"}, "ts": {"received": "yesterday",
               "teleported": T0.isoformat()}, "symbol": 42, "note": "kept"}
    event = from_outbox(uuid4(), "order.accepted", T0, "ACC1", payload)
    assert event.qty is None and event.ask == Decimal("50") and event.symbol == ""
    assert event.extra["note"] == "kept"
    assert event.extra["_invalid"] == {"qty": "ten", "quote.bid": "x", "ts.received": "yesterday",
                                       "ts.teleported": T0.isoformat(), "symbol": 42}


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", b"\xff\xfe", 17])
def test_unparseable_payloads_survive_as_raw(payload: object) -> None:
    event = from_outbox(uuid4(), "order.accepted", T0, None, payload)
    assert "_raw" in event.extra


def test_bad_event_type_from_outbox_is_shipped_as_unknown() -> None:
    event = from_outbox(uuid4(), "DROP TABLE", T0, None, {})
    assert event.event_type == "unknown.event" and event.extra["_invalid_event_type"] == "DROP TABLE"


def test_out_of_range_numbers_are_refused_into_invalid() -> None:
    event = from_outbox(uuid4(), "order.fill", T0, None, {"last_px": "1e20", "last_qty": "NaN"})
    assert event.last_px is None and event.last_qty is None
    assert set(event.extra["_invalid"]) == {"last_px", "last_qty"}


def test_realized_pnl_derived_from_avg_cost() -> None:
    event = from_outbox(uuid4(), "order.fill", T0, "A", {"side": "sell", "last_qty": "100", "last_px": "40",
                                                         "avg_cost": "50"})
    assert event.realized_pnl == Decimal("-1000")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"event_type": "OrderFilled"}, "noun.verb"),
        ({"occurred_at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"hops": {"teleported": T0}}, "unknown hop"),
        ({"hops": {"received": datetime(2026, 1, 1)}}, "timezone-aware"),
    ],
)
def test_producer_mistakes_raise(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        order_event(**kw)
