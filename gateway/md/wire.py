"""quickfix messages ⇄ the values of ``gateway.md`` (the same field layout as the exchange's feed).

Decoding never raises (an exception reaching QuickFIX would abort the process): every field is
checked with ``isSetField``/``hasGroup`` before it is read, and a request that cannot be read is
returned as the ``MdReject`` to answer it with.
"""

from __future__ import annotations

from decimal import Decimal

import quickfix as fix
import quickfix44 as fix44

from gateway.md.entries import MdEntry
from gateway.md.subscriptions import UNSUPPORTED_MARKET_DEPTH, MdReject, MdRequest

MAX_GROUP_ENTRIES = 10_000  # NoMDEntryTypes / NoRelatedSym beyond this are refused, not iterated


class MissingMdReqId(ValueError):
    """A 35=V without MDReqID (262): nothing a 35=Y could refer to."""


def _text(fields: fix.FieldMap, tag: int) -> str | None:
    try:
        return str(fields.getField(tag)) if fields.isSetField(tag) else None
    except Exception:  # a value quickfix cannot convert: treated as absent
        return None


def _count(message: fix.Message, tag: int) -> int:
    raw = _text(message, tag) or "0"
    return int(raw) if raw.isdigit() else -1


def _group_values(message: fix.Message, count_tag: int, group: fix.Group, tag: int) -> list[str] | None:
    count = _count(message, count_tag)
    if count < 0 or count > MAX_GROUP_ENTRIES:
        return None
    values = []
    for i in range(1, count + 1):
        if not message.hasGroup(i, group):
            return None
        message.getGroup(i, group)
        value = _text(group, tag)
        if value is None:
            return None
        values.append(value.strip())
    return values


def decode_request(message: fix.Message) -> MdRequest | MdReject:
    """The request of a 35=V, or the reject it deserves. Raises ``MissingMdReqId`` without 262."""
    req_id = _text(message, 262)
    if not req_id:
        raise MissingMdReqId("MDReqID (262) is required")
    request_type = _text(message, 263)
    if request_type is None:
        return MdReject(req_id, None, "SubscriptionRequestType (263) is required")
    depth_text = _text(message, 264) or "0"
    if not depth_text.isdigit():
        return MdReject(req_id, UNSUPPORTED_MARKET_DEPTH, f"MarketDepth {depth_text!r} is not a depth")
    types = _group_values(message, 267, fix44.MarketDataRequest.NoMDEntryTypes(), 269)
    if types is None:
        return MdReject(req_id, None, "NoMDEntryTypes (267) group does not match its count")
    symbols = _group_values(message, 146, fix44.MarketDataRequest.NoRelatedSym(), 55)
    if symbols is None:
        return MdReject(req_id, None, "NoRelatedSym (146) group does not match its count or lacks Symbol (55)")
    return MdRequest(req_id, request_type, int(depth_text), _text(message, 265), tuple(types),
                     tuple(dict.fromkeys(s for s in symbols if s)))


def _wire(value: object) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def _set(fields: fix.FieldMap, tag: int, value: object) -> None:
    if value is not None:
        fields.setField(tag, _wire(value))


def reject(r: MdReject) -> fix.Message:
    m = fix44.MarketDataRequestReject()
    _set(m, 262, r.req_id)
    _set(m, 281, r.reason)
    _set(m, 58, r.text)
    return m


def snapshot(req_id: str, symbol: str, entries: list[MdEntry]) -> fix.Message:
    m = fix44.MarketDataSnapshotFullRefresh()
    _set(m, 262, req_id)
    _set(m, 55, symbol)
    if not entries:
        m.setField(268, "0")
    for e in entries:
        group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
        for tag, value in ((269, e.entry_type), (270, e.price), (271, e.size), (290, e.position)):
            _set(group, tag, value)
        m.addGroup(group)
    return m


def incremental(req_id: str, entries: list[MdEntry]) -> fix.Message:
    m = fix44.MarketDataIncrementalRefresh()
    _set(m, 262, req_id)
    for e in entries:
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        for tag, value in ((279, e.action), (269, e.entry_type), (55, e.symbol), (270, e.price), (271, e.size),
                           (290, e.position)):
            _set(group, tag, value)
        m.addGroup(group)
    return m
