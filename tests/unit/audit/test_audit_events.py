"""The event contract: payload round trip, malformed payloads kept (never raised), producer mistakes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.events import HOPS, AuditEvent, InvalidEvent

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


def test_payload_carries_every_field_as_json_text() -> None:
    payload = order_event(extra={"venue": "SIM"}).to_payload()
    assert payload == {
        "venue": "SIM", "actor": "fix:CLIENT1", "symbol": "AAPL", "side": "buy", "ord_type": "limit",
        "cl_ord_id": "C1", "order_id": "O1", "qty": "100", "price": "50.25",
        "quote": {"bid": "50.20", "ask": "50.30", "last": "50.25"},
        "ts": {"received": "2026-03-02T14:30:00.123456+00:00", "risk_checked": "2026-03-02T14:30:00.123496+00:00"},
    }
    assert orjson.loads(orjson.dumps(payload)) == payload  # JSON-ready as it is


@settings(max_examples=100)
@given(qty=decimals, px=decimals, hop_us=st.lists(st.integers(0, 10**9), min_size=len(HOPS), max_size=len(HOPS)))
def test_decimals_and_hops_survive_exactly(qty: Decimal, px: Decimal, hop_us: list[int]) -> None:
    hops = {hop: T0 + timedelta(microseconds=us) for hop, us in zip(HOPS, hop_us, strict=True)}
    payload = orjson.loads(orjson.dumps(order_event(event_type="order.fill", last_qty=qty, last_px=px,
                                                    hops=hops).to_payload()))
    assert Decimal(payload["last_qty"]) == qty and Decimal(payload["last_px"]) == px
    assert {h: datetime.fromisoformat(t) for h, t in payload["ts"].items()} == hops


def test_empty_values_are_omitted() -> None:
    assert AuditEvent("session.logon", actor="fix:CLIENT1").to_payload() == {"actor": "fix:CLIENT1"}


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
