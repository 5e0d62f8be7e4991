"""FIX framing without a FIX engine: where a message ends, the fields of a Logon, a Logout's bytes.

``frame_end`` finds message boundaries exactly as QuickFIX 1.15.1's ``Parser::readFixMessage`` does
(skip to ``8=``, BodyLength from the first ``<SOH>9=``, then the first ``<SOH>10=`` at or after the
body's end, then its ``<SOH>``), so the relay and the engine behind it always agree on where each
message starts and ends: the relay's size cap can never be dodged by a frame the engine reads
differently. The relay does not parse fields after logon; the Logon is parsed strictly.
"""

from __future__ import annotations

from dataclasses import dataclass

SOH = b"\x01"
_BODY_LENGTH_DIGITS = 9


class FrameError(ValueError):
    """The bytes cannot be a FIX message (the engine would discard them)."""


@dataclass(frozen=True, slots=True)
class Frame:
    start: int  # index of "8="
    end: int  # one past the trailing SOH of "10=xxx"
    body_length: int


def frame_end(buffer: bytes | bytearray, start: int = 0) -> Frame | None:
    """The next complete message at or after ``start`` (the QuickFIX way), or None if more bytes are
    needed. Raises FrameError where QuickFIX throws MessageParseError (BodyLength not a number)."""
    begin = buffer.find(b"8=", start)
    if begin < 0:
        return None
    tag9 = buffer.find(b"\x019=", begin)
    if tag9 < 0:
        return None
    value_start = tag9 + 3
    value_end = buffer.find(SOH, value_start, value_start + _BODY_LENGTH_DIGITS + 1)
    if value_end < 0:
        if len(buffer) - value_start > _BODY_LENGTH_DIGITS:
            raise FrameError("BodyLength (9) is not a number")
        return None
    digits = bytes(buffer[value_start:value_end])
    if not digits.isdigit():
        raise FrameError("BodyLength (9) is not a number")
    body_length = int(digits)
    body_end = value_end + 1 + body_length
    if len(buffer) < body_end:
        return None
    checksum = buffer.find(b"\x0110=", body_end - 1)
    if checksum < 0:
        return None
    end = buffer.find(SOH, checksum + 4)
    if end < 0:
        return None
    return Frame(begin, end + 1, body_length)


def pending_header_length(buffer: bytes | bytearray, start: int = 0) -> int | None:
    """BodyLength of the incomplete message at ``start`` if its header has arrived, else None."""
    begin = buffer.find(b"8=", start)
    if begin < 0:
        return None
    tag9 = buffer.find(b"\x019=", begin)
    if tag9 < 0:
        return None
    value_end = buffer.find(SOH, tag9 + 3, tag9 + 4 + _BODY_LENGTH_DIGITS)
    digits = bytes(buffer[tag9 + 3:value_end]) if value_end >= 0 else b""
    return int(digits) if digits.isdigit() else None


def checksum(data: bytes | bytearray) -> int:
    return sum(data) & 0xFF


def parse_strict(message: bytes) -> list[tuple[int, bytes]]:
    """Fields of one complete message that must be well formed to the byte: ``8`` first, ``9`` second
    with the exact BodyLength, ``10`` last with the right CheckSum, ``tag=value`` everywhere."""
    if not message.startswith(b"8=") or not message.endswith(SOH):
        raise FrameError("not a FIX message")
    fields: list[tuple[int, bytes]] = []
    for raw in message[:-1].split(SOH):
        tag, sep, value = raw.partition(b"=")
        if not sep or not tag.isdigit() or len(tag) > 5 or tag.startswith(b"0"):
            raise FrameError("malformed field")
        fields.append((int(tag), value))
    if len(fields) < 4 or fields[1][0] != 9 or fields[-1][0] != 10:
        raise FrameError("BeginString, BodyLength and CheckSum must frame the message")
    header = len(b"8=") + len(fields[0][1]) + 1 + len(b"9=") + len(fields[1][1]) + 1
    trailer = len(message) - 7
    if not fields[1][1].isdigit() or int(fields[1][1]) != trailer - header:
        raise FrameError("BodyLength (9) does not match the message")
    if message[trailer:trailer + 3] != b"10=" or not fields[-1][1].isdigit() or len(fields[-1][1]) != 3:
        raise FrameError("malformed CheckSum (10)")
    if int(fields[-1][1]) != checksum(message[:trailer]):
        raise FrameError("CheckSum (10) does not match the message")
    return fields


def encode(begin_string: str, msg_type: str, fields: list[tuple[int, str]]) -> bytes:
    """A complete message: ``8``, ``9`` (computed), ``35``, ``fields`` in order, ``10`` (computed)."""
    body = b"35=" + msg_type.encode() + SOH + b"".join(
        str(tag).encode() + b"=" + value.encode() + SOH for tag, value in fields)
    head = b"8=" + begin_string.encode() + SOH + b"9=" + str(len(body)).encode() + SOH
    message = head + body
    return message + b"10=" + f"{checksum(message):03d}".encode() + SOH
