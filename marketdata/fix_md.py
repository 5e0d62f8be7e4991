"""Decoding the exchange's FIX market data messages from their wire text (pure: no I/O).

The ingestor reads each message's raw text (``quickfix.Message.toString()``) rather than walking
repeating groups through the QuickFIX bindings: one ``str.split`` per message is far cheaper than a
binding call per field, and the exchange's messages are large (one 35=X per flush carries every
change of every symbol). Repeating groups are split at their delimiter field (the first field of
the group): 269 MDEntryType in a snapshot (35=W), 279 MDUpdateAction in an increment (35=X).

Prices and sizes stay decimal strings here; ``marketdata.book`` turns them into Decimals. A field
that cannot be read makes the decoder raise ``MalformedMarketData`` for that message only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

SOH = "\x01"
NEW, CHANGE, DELETE = "0", "1", "2"
BID, OFFER, TRADE, CLOSE, VOLUME = "0", "1", "2", "5", "B"


class MalformedMarketData(ValueError):
    """A market data message that cannot be decoded; the message text says which field and why."""


class MdEntry(NamedTuple):
    action: str  # MDUpdateAction (279); NEW for snapshot entries
    entry_type: str  # MDEntryType (269)
    symbol: str
    price: str | None  # MDEntryPx (270); None when absent
    size: str | None  # MDEntrySize (271); None when absent


@dataclass(frozen=True, slots=True)
class Snapshot:
    req_id: str
    symbol: str
    entries: tuple[MdEntry, ...]
    exchange_ts_us: int


@dataclass(frozen=True, slots=True)
class Increment:
    req_id: str
    entries: tuple[MdEntry, ...]
    exchange_ts_us: int


@dataclass(frozen=True, slots=True)
class RequestReject:
    req_id: str
    reason: str  # MDReqRejReason (281)
    text: str


MarketDataMessage = Snapshot | Increment | RequestReject


def parse_utc_timestamp(value: str) -> int:
    """FIX UTCTimestamp (``YYYYMMDD-HH:MM:SS[.sss[sss]]``) → microseconds since the epoch."""
    try:
        whole, _, fraction = value.partition(".")
        stamp = datetime.strptime(whole, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        micros = int((fraction + "000000")[:6]) if fraction else 0
    except ValueError as exc:
        raise MalformedMarketData(f"SendingTime (52) is not a UTC timestamp: {value!r}") from exc
    if fraction and not (fraction.isascii() and fraction.isdigit() and len(fraction) < 19):
        raise MalformedMarketData(f"SendingTime (52) is not a UTC timestamp: {value!r}")
    return int(stamp.timestamp()) * 1_000_000 + micros


_ts_cache: dict[str, int] = {}  # second-resolution prefix → epoch µs (timestamps repeat within a second)


def _sending_time_us(value: str) -> int:
    whole, _, fraction = value.partition(".")
    base = _ts_cache.get(whole)
    if base is None:
        base = parse_utc_timestamp(whole)
        if len(_ts_cache) > 4096:
            _ts_cache.clear()
        _ts_cache[whole] = base
    if not fraction:
        return base
    if not (fraction.isascii() and fraction.isdigit() and len(fraction) < 19) or len(fraction) > 9:
        raise MalformedMarketData(f"SendingTime (52) is not a UTC timestamp: {value!r}")
    return base + int((fraction + "000000")[:6])


def _fields(raw: str) -> list[tuple[str, str]]:
    out = []
    for part in raw.split(SOH):
        if part:
            tag, sep, value = part.partition("=")
            if not sep or not (tag.isascii() and tag.isdigit() and len(tag) < 19):
                raise MalformedMarketData(f"not a tag=value field: {part[:40]!r}")
            out.append((tag, value))
    return out


# Fast path for increments in the exchange's canonical layout (QuickFIX writes group fields in the
# dictionary's order): one C-level regex pass extracts every entry. It is taken only when the entries
# cover the whole group section and their count equals NoMDEntries; anything else (another field,
# another order) goes through the general parser below.
_INC_ENTRY = re.compile(
    "279=([^\x01]*)\x01269=([^\x01]*)\x0155=([^\x01]*)\x01(?:270=([^\x01]*)\x01)?(?:271=([^\x01]*)\x01)?"
    "(?:290=[0-9]*\x01)?"
)
_HEADER = {tag: re.compile(f"\x01{tag}=([^\x01]*)\x01") for tag in ("52", "262")}
_COUNT = re.compile("\x01268=([0-9]{1,9})\x01")


def _fast_increment(raw: str) -> Increment | None:
    count = _COUNT.search(raw)
    sending = _HEADER["52"].search(raw)
    if count is None or sending is None:
        return None
    end = raw.rfind(SOH + "10=")
    section = raw[count.end():end + 1 if end >= 0 else len(raw)]
    found = _INC_ENTRY.findall(section)
    if len(found) != int(count.group(1)) or _INC_ENTRY.sub("", section):
        return None
    req_id = _HEADER["262"].search(raw)
    entries = tuple([MdEntry(a, t, sym, px or None, size or None) for a, t, sym, px, size in found])
    return Increment(req_id.group(1) if req_id else "", entries, _sending_time_us(sending.group(1)))


def decode(raw: str) -> MarketDataMessage | None:
    """Decode a 35=W, 35=X or 35=Y message; None for any other message type."""
    if SOH + "35=X" + SOH in raw[:64]:
        fast = _fast_increment(raw)
        if fast is not None:
            return fast
    return decode_fields(raw)


def decode_fields(raw: str) -> MarketDataMessage | None:
    """The general decoder (any field order, any extra field): what ``decode`` falls back to."""
    fields = _fields(raw)
    kind = next((v for t, v in fields if t == "35"), None)
    if kind not in ("W", "X", "Y"):
        return None
    sending = next((v for t, v in fields if t == "52"), None)
    if kind == "Y":
        values = dict(fields)
        return RequestReject(values.get("262", ""), values.get("281", ""), values.get("58", ""))
    if sending is None:
        raise MalformedMarketData("SendingTime (52) missing")
    ts = _sending_time_us(sending)
    req_id = next((v for t, v in fields if t == "262"), "")
    if kind == "W":
        symbol = next((v for t, v in fields if t == "55"), None)
        if not symbol:
            raise MalformedMarketData("Symbol (55) missing in a snapshot")
        return Snapshot(req_id, symbol, _groups(fields, "269", symbol), ts)
    return Increment(req_id, _groups(fields, "279", None), ts)


def _groups(fields: list[tuple[str, str]], delimiter: str, symbol: str | None) -> tuple[MdEntry, ...]:
    entries: list[MdEntry] = []
    current: dict[str, str] | None = None
    declared = None
    for tag, value in fields:
        if tag == "268":
            declared = value
            continue
        if declared is None:
            continue  # header and the fields before the group
        if tag == delimiter:
            if current is not None:
                entries.append(_entry(current, symbol))
            current = {}
        if current is not None and tag in ("279", "269", "55", "270", "271"):
            current[tag] = value
    if current is not None:
        entries.append(_entry(current, symbol))
    counted = declared is not None and declared.isascii() and declared.isdigit() and len(declared) < 19
    if not counted or int(declared or 0) != len(entries):
        raise MalformedMarketData(f"NoMDEntries (268) is {declared!r} but {len(entries)} entries were found")
    return tuple(entries)


def _entry(group: dict[str, str], symbol: str | None) -> MdEntry:
    entry_type = group.get("269")
    entry_symbol = group.get("55") or symbol
    if not entry_type or not entry_symbol:
        raise MalformedMarketData(f"an entry lacks MDEntryType (269) or Symbol (55): {group}")
    return MdEntry(group.get("279", NEW), entry_type, entry_symbol, group.get("270") or None, group.get("271") or None)
