"""Small accessors over ``quickfix.Message``/``SessionID`` that never raise."""

from __future__ import annotations

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
