"""quickfix messages ⇄ the values of ``gateway.md`` (the same field layout as the exchange's feed).

Decoding never raises (an exception reaching QuickFIX would abort the process): every field is
checked with ``isSetField``/``hasGroup`` before it is read, and a request that cannot be read is
returned as the ``MdReject`` to answer it with.
"""

from __future__ import annotations

from decimal import Decimal

import quickfix as fix
import quickfix44 as fix44

from fixsession.messages import SOH
from fixsession.settings import DATA_DICTIONARY
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
    return int(raw) if (raw.isascii() and raw.isdigit() and len(raw) < 19) else -1


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
    if not (depth_text.isascii() and depth_text.isdigit() and len(depth_text) < 19):
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


# 35=W and 35=X are written as FIX text and parsed once by QuickFIX (C++): building their groups
# field by field through the Python bindings cost ~9 µs per entry, the text ~1 µs (measured).
# Every value is ours (decimals, entry codes, listed symbols) but the client's MDReqID, which a
# parsed message cannot carry SOH in; SOH is still stripped, as a malformed text could abort.
_dictionary: fix.DataDictionary | None = None


def _from_text(msg_type: str, body: list[str]) -> fix.Message:
    global _dictionary
    if _dictionary is None:
        _dictionary = fix.DataDictionary(str(DATA_DICTIONARY))
    message = fix.Message()
    message.setString(f"8=FIX.4.4{SOH}9=0{SOH}35={msg_type}{SOH}{''.join(body)}10=000{SOH}", False, _dictionary)
    return message


def _field(tag: int, value: object) -> str:
    return f"{tag}={_wire(value).replace(SOH, '')}{SOH}"


def _entry(e: MdEntry, tags: tuple[tuple[int, str], ...]) -> str:
    return "".join([_field(tag, value) for tag, name in tags if (value := getattr(e, name)) is not None])


_SNAPSHOT_ENTRY = ((269, "entry_type"), (270, "price"), (271, "size"), (290, "position"))
_INCREMENT_ENTRY = ((279, "action"), (269, "entry_type"), (55, "symbol"), (270, "price"), (271, "size"),
                    (290, "position"))


def snapshot(req_id: str, symbol: str, entries: list[MdEntry]) -> fix.Message:
    body = [_field(55, symbol), _field(262, req_id), _field(268, len(entries))]
    body += [_entry(e, _SNAPSHOT_ENTRY) for e in entries]
    return _from_text("W", body)


def incremental(req_id: str, entries: list[MdEntry]) -> fix.Message:
    body = [_field(262, req_id), _field(268, len(entries))]
    body += [_entry(e, _INCREMENT_ENTRY) for e in entries]
    return _from_text("X", body)
