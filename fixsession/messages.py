"""Small accessors over ``quickfix.Message``/``SessionID`` that never raise."""

from __future__ import annotations

from collections.abc import Mapping

import quickfix as fix

SOH = "\x01"


_KEY_ATTRIBUTE = "fixsession_key"  # the key, kept on the copies made here (a Python attribute of the proxy)


def session_key(session_id: fix.SessionID) -> str:
    """Stable text key of a session ("FIX.4.4:BROKER->CLIENT1"); SessionID objects compare by identity. A copy
    from ``copy_session_id`` (the one the bridge hands to the loop with every message of a session) has it
    already: no call into the binding, which may hand the GIL to another thread."""
    known: str | None = getattr(session_id, _KEY_ATTRIBUTE, None)
    if known is not None:
        return known
    try:
        return str(session_id.toString())
    except Exception:
        return "?"


def copy_session_id(session_id: fix.SessionID) -> fix.SessionID:
    """An owned copy: the SessionID handed to a callback belongs to the engine. It keeps its ``session_key``
    (a SessionID does not change once made)."""
    text = str(session_id.toString())
    copy = fix.SessionID()
    copy.fromString(text)
    setattr(copy, _KEY_ATTRIBUTE, text)
    return copy


_CARRIED_ATTRIBUTE = "fixsession_carried"  # fields an owned copy carries beside its own (a Python attribute)


def carry(message: fix.Message, fields: Mapping[int, str]) -> None:
    """Let an owned copy carry ``fields`` (tag -> value) beside its own, without a call into the binding (on an
    engine thread each call may leave the thread waiting for the GIL): the loop reads them with ``carried``."""
    setattr(message, _CARRIED_ATTRIBUTE, fields)


def carried(message: fix.Message) -> Mapping[int, str]:
    """The fields ``carry`` attached to this message (none: an empty mapping)."""
    fields: Mapping[int, str] | None = getattr(message, _CARRIED_ATTRIBUTE, None)
    return fields if fields is not None else {}


_TEXT_ATTRIBUTE = "fixsession_text"  # the wire text an inbound copy was made from (a Python attribute)


def keep_text(message: fix.Message, text: str) -> None:
    """Let an owned copy keep the wire text its engine-side original was read as (by the message log, on the
    engine thread, before the copy was made), so ``wire_text`` on the loop makes no call into the binding. The
    copy must not be changed afterwards: the text would not follow. The bridge's inbound copies never are."""
    setattr(message, _TEXT_ATTRIBUTE, text)


def wire_text(message: fix.Message) -> str:
    """The message's wire form: the text kept by ``keep_text``, else ``toString`` (one call into the binding)."""
    known: str | None = getattr(message, _TEXT_ATTRIBUTE, None)
    return known if known is not None else str(message.toString())


def header_value(message: fix.Message, tag: int) -> str | None:
    header = message.getHeader()
    return str(header.getField(tag)) if header.isSetField(tag) else None


def body_value(message: fix.Message, tag: int) -> str | None:
    return str(message.getField(tag)) if message.isSetField(tag) else None


def wire_msg_type(raw: str) -> str:
    """MsgType (35) of a message's wire text, "" when it has none. QuickFIX writes 35 right after BeginString (8)
    and BodyLength (9), so a "35=" further on (a body field, data) is not it; a text may also start with it
    (an unframed message)."""
    if raw.startswith("35="):
        end = raw.find(SOH)
        return raw[3:end if end >= 0 else len(raw)]
    at = raw.find("\x0135=")
    if at < 0 or raw.count(SOH, 0, at) > 1:
        return ""
    end = raw.find(SOH, at + 4)
    return raw[at + 4:end if end >= 0 else len(raw)]


def msg_type(message: fix.Message) -> str:
    """MsgType (35), "" when unset, from the wire text (``wire_text``: kept by an inbound copy, else one
    ``toString``, which costs less than the header look-up's three calls into the binding: 1.8 vs 3.3 µs for
    an ExecutionReport)."""
    return wire_msg_type(wire_text(message))


def msg_seq_num(message: fix.Message) -> int | None:
    value = header_value(message, 34)
    return int(value) if value is not None and (value.isascii() and value.isdigit() and len(value) < 19) else None


def printable(message: fix.Message) -> str:
    """The wire form with SOH shown as '|', for logs."""
    return wire_text(message).replace(SOH, "|")
