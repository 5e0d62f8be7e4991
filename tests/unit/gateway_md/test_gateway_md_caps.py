"""Per-session market data caps (pure ``check_request``): live MDReqIDs, symbols per snapshot, symbols
watched in all; each refusal is a 35=Y with 281=2 (insufficient bandwidth) naming the cap."""

from __future__ import annotations

from gateway.md.subscriptions import (
    INSUFFICIENT_BANDWIDTH,
    SNAPSHOT,
    SUBSCRIBE,
    MdCaps,
    MdReject,
    MdRequest,
    SessionMarketData,
    Subscription,
    check_request,
)

CAPS = MdCaps(max_symbols=5, max_subscriptions=2, max_snapshot_symbols=3)


def request(req_id: str, kind: str, *symbols: str) -> MdRequest:
    return MdRequest(req_id, kind, 1, None, ("0",), symbols)


def known(_symbol: str) -> bool:
    return True


def test_snapshot_request_above_the_cap_is_refused() -> None:
    result = check_request(request("r", SNAPSHOT, "A", "B", "C", "D"), known, None, 5, CAPS)
    assert isinstance(result, MdReject) and result.reason == INSUFFICIENT_BANDWIDTH
    assert "at most 3 symbols per snapshot request (4 requested)" in result.text
    assert not isinstance(check_request(request("r", SNAPSHOT, "A", "B", "C"), known, None, 5, CAPS), MdReject)


def test_live_subscriptions_are_capped_per_session() -> None:
    session = SessionMarketData()
    for n in range(2):
        session.add(Subscription(f"s{n}", ("A",), frozenset({"0"})))
    result = check_request(request("s2", SUBSCRIBE, "A"), known, session, 5, CAPS)
    assert isinstance(result, MdReject) and "at most 2 live subscriptions" in result.text
    # a snapshot-only request registers nothing: still served
    assert not isinstance(check_request(request("x", SNAPSHOT, "A"), known, session, 5, CAPS), MdReject)
    session.remove("s0")
    assert not isinstance(check_request(request("s2", SUBSCRIBE, "A"), known, session, 5, CAPS), MdReject)


def test_symbols_watched_in_all_stay_capped() -> None:
    session = SessionMarketData()
    session.add(Subscription("s0", ("A", "B", "C"), frozenset({"0"})))
    result = check_request(request("s1", SUBSCRIBE, "C", "D", "E", "F"), known, session, 5, CAPS)
    assert isinstance(result, MdReject) and "at most 5 symbols per session (6 requested in all)" in result.text


def test_default_caps_keep_the_old_signature() -> None:
    assert not isinstance(check_request(request("r", SUBSCRIBE, "A"), known, None, 500), MdReject)
