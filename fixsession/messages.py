"""Small accessors over ``quickfix.Message``/``SessionID`` that never raise."""

from __future__ import annotations

import threading

import quickfix as fix

SOH = "\x01"


def session_key(session_id: fix.SessionID) -> str:
    """Stable text key of a session ("FIX.4.4:BROKER->CLIENT1"); SessionID objects compare by identity."""
    try:
        return str(session_id.toString())
    except Exception:
        return "?"


def copy_session_id(session_id: fix.SessionID) -> fix.SessionID:
    """An owned copy: the SessionID handed to a callback belongs to the engine."""
    copy = fix.SessionID()
    copy.fromString(session_id.toString())
    return copy


def header_value(message: fix.Message, tag: int) -> str | None:
    header = message.getHeader()
    return str(header.getField(tag)) if header.isSetField(tag) else None


def body_value(message: fix.Message, tag: int) -> str | None:
    return str(message.getField(tag)) if message.isSetField(tag) else None


def msg_type(message: fix.Message) -> str:
    return header_value(message, 35) or ""


def msg_seq_num(message: fix.Message) -> int | None:
    value = header_value(message, 34)
    return int(value) if value is not None and (value.isascii() and value.isdigit() and len(value) < 19) else None


def printable(message: fix.Message) -> str:
    """The wire form with SOH shown as '|', for logs."""
    return str(message.toString()).replace(SOH, "|")


class InboundMessage(fix.Message):  # type: ignore[misc]
    """An owned copy of an inbound message with its wire text, read once on the engine thread (for the message
    log and the counters) and handed over with it: the event loop reads ``wire`` instead of calling ``toString``
    and the header again. Inbound messages are not modified once handed over, so the text stays the message's."""

    def __init__(self, message: fix.Message, wire: str) -> None:
        super().__init__(message)
        self.wire = wire


def wire_text(message: fix.Message) -> str:
    """The message's wire text: the one read on the engine thread when there is one, else ``toString()``."""
    return message.wire if type(message) is InboundMessage else str(message.toString())


def wire_msg_type(raw: str) -> str:
    """MsgType (35) of a message's wire text ("" if it has none): the third field of a framed message, found
    without a call into the binding."""
    start = raw.find("\x0135=")
    if start < 0:
        return raw[3:raw.find("\x01")] if raw.startswith("35=") else ""
    end = raw.find("\x01", start + 4)
    return raw[start + 4:end if end >= 0 else len(raw)]


def message_type(message: fix.Message) -> str:
    """``msg_type`` without a call into the binding for a message handed over with its wire text."""
    return wire_msg_type(message.wire) if type(message) is InboundMessage else msg_type(message)


# The engine thread's inbound message and its wire text, while the application's ``fromApp`` runs: set by the
# message log's wrapper (which reads the text anyway), read by the bridge when it copies the message.
_engine = threading.local()


def hold_wire(message: fix.Message | None, raw: str | None) -> None:
    _engine.held = (message, raw) if message is not None and raw is not None else None


def held_wire(message: fix.Message) -> str | None:
    """The wire text held for ``message`` (the same callback's object) on this thread, if any."""
    held = getattr(_engine, "held", None)
    return held[1] if held is not None and held[0] is message else None
