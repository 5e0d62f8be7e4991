"""The engine-thread hooks made cheaper in ADR 041 and ADR 056: the session-start stamp on inbound application
messages (read from the store file once, again after every inbound admin message, logon and logout: ADR 056) and
the reject audit's filter on outbound application messages (MsgType from the wire text, ADR 041)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import quickfix as fix

from audit.events import AuditEvent
from fixsession.application import SafeApplication
from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber
from fixsession.messages import carry, header_value, msg_type, session_key
from fixsession.rejects import business_reject
from gateway.oms.audit_spool import watch_rejects
from gateway.oms.fix_codec import crack
from gateway.oms.session_days import (
    NO_SESSION_START,
    SESSION_START_TAG,
    StoreClock,
    message_session_start,
    parse_session_start,
    stamp_session_start,
)

SID = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")
OTHER = fix.SessionID("FIX.4.4", "BROKER", "CLIENT2")


def _new_order() -> fix.Message:
    return fix.Message("8=FIX.4.4\x019=5\x0135=D\x0134=2\x0149=CLIENT1\x0156=BROKER\x0111=C1\x011=ACC\x01"
                       "55=AAPL\x0154=1\x0138=1\x0140=2\x0144=190.12\x0159=3\x0110=000\x01", False)


def _write_store(directory: Path, session: str, text: str, mtime_ns: int) -> None:
    path = directory / f"FIX.4.4-BROKER-{session}.session"
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


class _Collect(SafeApplication):
    """The gateway's client application as far as the stamp goes: inbound messages through the real bridge."""

    def __init__(self) -> None:
        super().__init__("gateway", asyncio.get_running_loop())
        self.got: list[tuple[str, fix.Message]] = []

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        self.got.append((session_key(session_id), message))


def _stamped_app(tmp_path: Path) -> tuple[_Collect, StoreClock]:
    app = _Collect()
    clock = StoreClock(tmp_path)
    stamp_session_start(app, clock)
    return app, clock


async def _stamps(app: _Collect) -> list[str | None]:
    """The start each message handed to the loop carries, as the order path reads it (``crack``), after checking
    that ``message_session_start`` reads the same and that nothing was written into the message itself."""
    assert app.bridge is not None
    await app.bridge.join()
    out: list[str | None] = []
    for _, message in app.got:
        value = crack(message).get(str(SESSION_START_TAG))
        assert header_value(message, SESSION_START_TAG) is None
        assert message_session_start(message) == (parse_session_start(value) if value else NO_SESSION_START)
        out.append(value)
    return out


def _logon() -> fix.Message:
    return fix.Message("8=FIX.4.4\x019=5\x0135=A\x0134=1\x0149=CLIENT1\x0156=BROKER\x0198=0\x01108=30\x01"
                       "141=Y\x0110=000\x01", False)


async def test_each_inbound_message_carries_its_stores_start(tmp_path: Path) -> None:
    app, clock = _stamped_app(tmp_path)
    app.on_app_in(_new_order(), SID)  # no store yet: no stamp, the message still goes on
    assert await _stamps(app) == [None]

    _write_store(tmp_path, "CLIENT1", "20261202-00:00:00  \n", 1_000_000_000)
    _write_store(tmp_path, "CLIENT2", "20261202-09:30:05  \n", 1_000_000_000)
    app.on_app_in(_new_order(), SID)
    app.on_app_in(_new_order(), SID)
    app.on_app_in(_new_order(), OTHER)  # another session's own store
    assert (await _stamps(app))[1:] == ["20261202-00:00:00", "20261202-00:00:00", "20261202-09:30:05"]
    assert [key for key, _ in app.got[1:]] == ["FIX.4.4:BROKER->CLIENT1"] * 2 + ["FIX.4.4:BROKER->CLIENT2"]
    assert message_session_start(app.got[1][1]) == parse_session_start("20261202-00:00:00")
    assert clock.session_start(OTHER) == parse_session_start("20261202-09:30:05")


async def test_a_store_reset_is_seen_at_the_logon_that_follows_it(tmp_path: Path) -> None:
    """Every way QuickFIX resets a store is followed by an inbound Logon before the next application message
    (141=Y and ResetOnLogon reset before ``fromAdmin`` sees the Logon); the stamp reads the store again there."""
    app, clock = _stamped_app(tmp_path)
    _write_store(tmp_path, "CLIENT1", "20261202-00:00:00  \n", 1_000_000_000)
    app.on_app_in(_new_order(), SID)
    # a Logon with 141=Y: QuickFIX has reset the store before the Logon reaches the application
    _write_store(tmp_path, "CLIENT1", "20261202-14:00:00  \n", 2_000_000_000)
    app.fromAdmin(_logon(), SID)
    app.on_app_in(_new_order(), SID)
    # the session time's end (or Session::reset): logged out first, then reset, then a new Logon
    app.on_logout(SID)
    _write_store(tmp_path, "CLIENT1", "20261203-00:00:00  \n", 3_000_000_000)
    app.fromAdmin(_logon(), SID)
    app.on_logon(SID)
    app.on_app_in(_new_order(), SID)
    # a reset the Logon callback alone would see (belt and braces: a fault before ``on_admin_in``)
    _write_store(tmp_path, "CLIENT1", "20261203-10:00:00  \n", 4_000_000_000)
    app.on_logon(SID)
    app.on_app_in(_new_order(), SID)
    assert await _stamps(app) == ["20261202-00:00:00", "20261202-14:00:00", "20261203-00:00:00",
                                  "20261203-10:00:00"]
    # the store gone (between a reset's delete and rewrite): nothing stamped rather than a stale start
    (tmp_path / "FIX.4.4-BROKER-CLIENT1.session").unlink()
    app.on_logout(SID)
    assert clock.current_tag(SID, "FIX.4.4:BROKER->CLIENT1") is None and clock.session_start(SID) is None


async def test_within_a_logon_the_store_is_not_read_per_message(tmp_path: Path) -> None:
    """The point of ADR 056: no ``stat`` per application message; the start read at the logon is kept."""
    app, _ = _stamped_app(tmp_path)
    _write_store(tmp_path, "CLIENT1", "20261202-00:00:00  \n", 1_000_000_000)
    app.on_app_in(_new_order(), SID)
    (tmp_path / "FIX.4.4-BROKER-CLIENT1.session").unlink()  # would make a read return None
    app.on_app_in(_new_order(), SID)
    assert await _stamps(app) == ["20261202-00:00:00", "20261202-00:00:00"]


def _watched() -> tuple[SafeApplication, list[AuditEvent]]:
    app = SafeApplication("gateway")
    events: list[AuditEvent] = []
    watch_rejects(app, events.append)
    return app, events


@pytest.mark.parametrize("behind_the_message_log", [False, True])
def test_business_rejects_sent_are_audited_and_nothing_else(tmp_path: Path, behind_the_message_log: bool) -> None:
    """Called by QuickFIX directly, or (as in the gateway) through the message log's wrapper, which hands over
    the MsgType and text it read."""
    watched, events = _watched()
    app: fix.Application = watched
    if behind_the_message_log:
        app = LoggingApplication(watched, MessageLog(tmp_path), StoreScrubber(tmp_path))
    report = fix.Message("8=FIX.4.4\x019=5\x0135=8\x0137=O1\x0111=C1\x0117=E1\x01150=0\x0139=0\x0155=AAPL\x01"
                         "54=1\x01151=1\x0114=0\x016=0\x0110=000\x01", False)
    app.toApp(report, SID)
    assert events == []
    ours = business_reject(_new_order(), 4, "database down", "C1")
    app.toApp(ours, SID)
    # as QuickFIX's engine builds one for an unsupported message type
    engines = fix.Message("8=FIX.4.4\x019=5\x0135=j\x0145=7\x01372=ZZ\x01380=3\x0158=Unsupported Message Type\x01"
                          "10=000\x01", False)
    app.toApp(engines, SID)
    resent = business_reject(_new_order(), 4, "database down", "C1")
    resent.getHeader().setField(43, "Y")  # a resend is not a new reject
    app.toApp(resent, SID)
    assert [(e.event_type, e.extra["business_reject_reason"], e.reason) for e in events] == [
        ("session.business_reject", "4", "database down"),
        ("session.business_reject", "3", "Unsupported Message Type"),
    ]
    assert events[0].extra["business_reject_ref_id"] == "C1" and events[1].extra["ref_msg_type"] == "ZZ"


def test_behind_the_message_log_a_resent_market_data_message_is_logged_as_the_gap_fill_sent(tmp_path: Path) -> None:
    """The wrapper reads an outbound message's text once, before the application sees it; when the application
    rewrites it (a resent type never resent becomes a gap fill), what is logged is what goes out."""
    inner = SafeApplication("gateway")
    inner.no_resend_types = frozenset({"W"})
    log = MessageLog(tmp_path)
    app = LoggingApplication(inner, log, StoreScrubber(tmp_path))
    snapshot = ("8=FIX.4.4\x019=5\x0135=W\x0134=5\x0149=BROKER\x0156=CLIENT1\x01{}262=R1\x0155=AAPL\x01268=0\x01"
                "10=000\x01")
    fresh = fix.Message(snapshot.format(""), False)
    app.toApp(fresh, SID)
    resent = fix.Message(snapshot.format("43=Y\x01"), False)
    app.toApp(resent, SID)
    lines = log.path(SID).read_text().splitlines()
    assert len(lines) == 2 and "\x0135=W\x01" in lines[0] and "\x01262=R1\x01" in lines[0]
    assert "\x0135=4\x01" in lines[1] and "\x01123=Y\x01" in lines[1] and "262=R1" not in lines[1]
    assert msg_type(fresh) == "W" and msg_type(resent) == "4"


def test_session_rejects_sent_are_audited() -> None:
    app, events = _watched()
    heartbeat = fix.Message("8=FIX.4.4\x019=5\x0135=0\x0110=000\x01", False)
    app.toAdmin(heartbeat, SID)
    reject = fix.Message("8=FIX.4.4\x019=5\x0135=3\x0145=9\x01371=44\x01372=D\x01373=5\x0158=Value is incorrect\x01"
                         "10=000\x01", False)
    app.toAdmin(reject, SID)
    assert [(e.event_type, e.extra["ref_tag_id"]) for e in events] == [("session.reject", "44")]


def test_msg_type_is_the_headers_from_the_wire_text() -> None:
    assert msg_type(_new_order()) == "D" == header_value(_new_order(), 35)
    assert msg_type(fix.Message()) == ""  # nothing set: "9=0|10=..."
    built = fix.Message()
    built.getHeader().setField(8, "FIX.4.4")
    built.getHeader().setField(49, "BROKER")
    built.setField(95, "6")
    built.setField(96, "\x0135=j\x01")  # data that looks like a MsgType field, in a message without one
    assert msg_type(built) == ""
    built.getHeader().setField(35, "AE")  # a two-letter type; QuickFIX writes it right after 8 and 9
    assert msg_type(built) == "AE"
    without_begin = fix.Message()
    without_begin.getHeader().setField(35, "0")
    assert msg_type(without_begin) == "0"


def test_the_carried_start_is_read_on_both_of_cracks_paths() -> None:
    """``crack`` reads a message with a length-prefixed data field through the binding, field by field: the start
    the engine thread attached is there too."""
    plain, with_data = _new_order(), _new_order()
    with_data.setField(95, "3")
    with_data.setField(96, "a\x01b")  # data that may hold SOH: the slow path
    for message in (plain, with_data):
        carry(message, {SESSION_START_TAG: "20261202-00:00:00"})
        fields = crack(message)
        assert fields[str(SESSION_START_TAG)] == "20261202-00:00:00" and fields["11"] == "C1"
        assert message_session_start(message) == parse_session_start("20261202-00:00:00")
