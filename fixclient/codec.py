"""FIX tag=value encoding and framing over a byte stream (simplefix underneath).

simplefix parses fields but neither frames by BodyLength(9) nor checks CheckSum(10); both matter on a
socket: a frame is cut by its declared BodyLength, its checksum is verified, and only then are the fields
parsed. A frame that fails any check is *garbled*: reported and skipped (FIX says garbled messages are
ignored without consuming a sequence number), and the reader resynchronises on the next ``8=FIX``.

Speed: simplefix's FixParser walks the buffer a byte at a time in Python and FixMessage.append_pair
converts every tag twice; profiled in bench/fix_roundtrip.py they cost ~0.5 ms per round trip, more than
the socket. So a checked frame is split on SOH directly into a simplefix ``FixMessage`` (its public
``pairs``), FixParser is used only for frames carrying length-prefixed raw data (tags 95/96, 212/213...)
where a value may contain SOH, and messages are encoded here with bytes formatting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import simplefix
from simplefix.data import RAW_LEN_TAGS

__all__ = [
    "SOH",
    "Frame",
    "FrameReader",
    "GarbledFrame",
    "checksum",
    "encode_message",
    "field",
    "format_utc_timestamp",
    "parse_utc_timestamp",
]

SOH = b"\x01"
BEGIN_STRING = "FIX.4.4"
# A frame larger than this is treated as garbage rather than waited for (protects memory).
MAX_FRAME_BYTES = 1 << 20

_HEADER = re.compile(rb"8=(FIX[^\x01=]{1,16})\x019=(\d{1,7})\x01")
_TRAILER = re.compile(rb"10=(\d{3})\x01")
_TRAILER_LEN = 7  # "10=NNN<SOH>"
_RESYNC = b"8=FIX"


def checksum(data: bytes) -> int:
    """CheckSum(10): the byte sum modulo 256 of everything before the ``10=`` field."""
    return sum(data) % 256


def format_utc_timestamp(moment: datetime | None = None) -> str:
    """UTCTimestamp with milliseconds, e.g. ``20261121-19:45:01.123``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_utc_timestamp(value: str) -> datetime:
    """Parse a UTCTimestamp with or without fractional seconds (ms, us or ns)."""
    base, _, fraction = value.partition(".")
    moment = datetime.strptime(base, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
    if fraction:
        if not fraction.isdigit() or len(fraction) > 9:
            raise ValueError(f"bad UTCTimestamp fraction: {value!r}")
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment


def field(message: simplefix.FixMessage, tag: int) -> str | None:
    """The first value of ``tag`` as text, or None when absent."""
    value = message.get(tag)
    return None if value is None else bytes(value).decode("latin-1")


def _pair(tag: int, value: object) -> bytes:
    # Decimals in plain notation: str(Decimal("1E+2")) would put an exponent on the wire.
    text = (format(value, "f") if isinstance(value, Decimal) else str(value)).encode("utf-8")
    if not text or b"\x01" in text:
        raise ValueError(f"tag {tag}: a FIX value may be neither empty nor contain SOH: {value!r}")
    return b"%d=%s" % (tag, text)


def encode_message(
    msg_type: str,
    header: Sequence[tuple[int, object]],
    body: Iterable[tuple[int, object]],
    begin_string: str = BEGIN_STRING,
) -> bytes:
    """Encode one message; BodyLength and CheckSum are computed; ``None`` values are left out."""
    parts = [_pair(35, msg_type)]
    parts += [_pair(tag, value) for tag, value in header if value is not None]
    parts += [_pair(tag, value) for tag, value in body if value is not None]
    payload = SOH.join(parts) + SOH
    message = b"8=%s\x019=%d\x01%s" % (begin_string.encode(), len(payload), payload)
    return message + b"10=%03d\x01" % (sum(message) % 256)


@dataclass(frozen=True, slots=True)
class Frame:
    """One well-formed message: the exact bytes received, the parsed fields (simplefix, every
    occurrence in order) and the first value of each tag for quick look-ups."""

    raw: bytes
    message: simplefix.FixMessage
    fields: dict[int, str]

    @property
    def msg_type(self) -> str:
        return self.fields.get(35, "")

    def get(self, tag: int) -> str | None:
        return self.fields.get(tag)


@dataclass(frozen=True, slots=True)
class GarbledFrame:
    """Bytes that could not be a message (bad header, BodyLength, CheckSum or fields), and why."""

    raw: bytes
    reason: str


class FrameReader:
    """Accumulates bytes from a stream and yields complete frames in order."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_frame_bytes

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | GarbledFrame]:
        self._buffer += data
        out: list[Frame | GarbledFrame] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _next(self) -> Frame | GarbledFrame | None:
        buf = self._buffer
        start = buf.find(b"8=")
        if start < 0:
            # Keep a trailing "8" that may begin the next header; anything else is noise.
            keep = 1 if buf.endswith(b"8") else 0
            if len(buf) > keep:
                junk = bytes(buf[: len(buf) - keep])
                del buf[: len(buf) - keep]
                return GarbledFrame(junk, "bytes outside any message")
            return None
        if start > 0:
            junk = bytes(buf[:start])
            del buf[:start]
            return GarbledFrame(junk, "bytes before BeginString")
        header = _HEADER.match(buf)
        if header is None:
            if buf.count(SOH, 0, 40) >= 2 or len(buf) >= 40:
                return self._skip("malformed BeginString/BodyLength header")
            return None  # header still arriving
        body_start = header.end()
        body_length = int(header.group(2))
        end = body_start + body_length + _TRAILER_LEN
        if end > self._max:
            return self._skip(f"BodyLength {body_length} exceeds the frame limit")
        if len(buf) < end:
            return None  # a lying (too long) BodyLength is caught once enough bytes arrive
        trailer = _TRAILER.match(buf, body_start + body_length)
        if trailer is None or buf[body_start + body_length - 1 : body_start + body_length] != SOH:
            return self._skip("BodyLength does not match the message")
        raw = bytes(buf[:end])
        expected = checksum(raw[: body_start + body_length])
        if int(trailer.group(1)) != expected:
            del buf[:end]
            return GarbledFrame(raw, f"CheckSum {trailer.group(1).decode()} != {expected:03d}")
        del buf[:end]
        return _parse(raw)

    def _skip(self, reason: str) -> GarbledFrame:
        """Drop bytes up to the next plausible message start."""
        nxt = self._buffer.find(_RESYNC, 1)
        cut = nxt if nxt > 0 else len(self._buffer)
        junk = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return GarbledFrame(junk, reason)


_RAW_LENGTH_FIELD = re.compile(b"\x01(?:" + b"|".join(b"%d" % tag for tag in RAW_LEN_TAGS) + b")=")


def _parse(raw: bytes) -> Frame | GarbledFrame:
    if _RAW_LENGTH_FIELD.search(raw):
        return _parse_with_simplefix(raw)
    pairs: list[tuple[bytes, bytes]] = []
    for item in raw[:-1].split(SOH):
        tag, sep, value = item.partition(b"=")
        if not sep or not tag.isdigit() or not value:
            return GarbledFrame(raw, f"bad field {item[:40]!r}")
        pairs.append((tag, value))
    return _frame(raw, pairs)


def _parse_with_simplefix(raw: bytes) -> Frame | GarbledFrame:
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    try:
        message = parser.get_message()
    except Exception as exc:  # simplefix raises its own error types for bad tags/values
        return GarbledFrame(raw, f"unparseable field: {type(exc).__name__} {exc}")
    if message is None:
        return GarbledFrame(raw, "incomplete message")
    return _frame(raw, [(bytes(t), bytes(v)) for t, v in message.pairs])


def _frame(raw: bytes, pairs: list[tuple[bytes, bytes]]) -> Frame | GarbledFrame:
    if len(pairs) < 3 or pairs[2][0] != b"35":
        return GarbledFrame(raw, "MsgType(35) is not the third field")
    message = simplefix.FixMessage()
    message.pairs = pairs
    message.begin_string = pairs[0][1]
    message.message_type = pairs[2][1]
    fields: dict[int, str] = {}
    for tag, value in pairs:
        fields.setdefault(int(tag), value.decode("latin-1"))
    return Frame(raw, message, fields)
