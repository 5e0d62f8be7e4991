"""SafeApplication: nothing escapes a callback, the logon gate rewrites the reply, rejects are well formed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import quickfix as fix

from fixsession.application import SafeApplication, _beyond_seqnum, _defuse_resend_range
from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber
from fixsession.messages import body_value, msg_type
from fixsession.rejects import business_reject, logout, session_reject, unsupported_message_type
from fixsession.throttle import Rate, ThrottlePolicy

SESSION = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")


def message(kind: str, *fields: tuple[int, str], seq: int = 7) -> fix.Message:
    result = fix.Message()
    result.getHeader().setField(fix.MsgType(kind))
    result.getHeader().setField(fix.MsgSeqNum(seq))
    for tag, value in fields:
        result.setField(tag, value)
    return result


class Exploding(SafeApplication):
    def on_app_in(self, message: fix.Message, session_id: fix.SessionID, key: str | None = None,
                  text: str | None = None) -> None:
        raise fix.UnsupportedMessageType()  # would abort the process if it reached QuickFIX

    def on_admin_in(self, message: fix.Message, session_id: fix.SessionID) -> None:
        raise KeyError("bug")

    def on_logon(self, session_id: fix.SessionID) -> None:
        raise SystemExit(3)


def test_no_exception_leaves_a_callback() -> None:
    app = Exploding("test")
    app.fromApp(message("D"), SESSION)
    app.fromAdmin(message("0"), SESSION)
    app.onLogon(SESSION)  # even BaseException subclasses are contained


class Gate(SafeApplication):
    def __init__(self) -> None:
        super().__init__("gate")
        self.events: list[str] = []

    def check_logon(self, logon: fix.Message, session_id: fix.SessionID) -> str | None:
        return None if body_value(logon, 554) == "right" else "Invalid username or password"

    def on_logon(self, session_id: fix.SessionID) -> None:
        self.events.append("logon")

    def on_logout(self, session_id: fix.SessionID) -> None:
        self.events.append("logout")

    def on_logon_refused(self, session_id: fix.SessionID, reason: str) -> None:
        self.events.append(f"refused: {reason}")


def logon_reply() -> fix.Message:
    return message("A", (98, "0"), (108, "30"), (141, "Y"), seq=1)


def test_refused_logon_reply_becomes_a_logout_with_the_reason() -> None:
    app = Gate()
    app.fromAdmin(message("A", (98, "0"), (108, "30"), (554, "wrong"), seq=1), SESSION)
    reply = logon_reply()
    app.toAdmin(reply, SESSION)
    assert msg_type(reply) == "5"
    assert body_value(reply, 58) == "Invalid username or password"
    assert [body_value(reply, tag) for tag in (98, 108, 141)] == [None, None, None]
    app.onLogon(SESSION)  # the engine completes its Logon; the application never sees a logon
    assert app.events == ["refused: Invalid username or password"]


def test_accepted_logon_is_untouched_and_reported() -> None:
    app = Gate()
    app.fromAdmin(message("A", (98, "0"), (108, "30"), (554, "right"), seq=1), SESSION)
    reply = logon_reply()
    app.toAdmin(reply, SESSION)
    assert msg_type(reply) == "A" and body_value(reply, 108) == "30"
    app.onLogon(SESSION)
    assert app.events == ["logon"]


def test_send_to_an_unknown_session_returns_false_instead_of_aborting() -> None:
    # Session.sendToTarget would throw SessionNotFound in C++, which aborts the process.
    assert SafeApplication.send(fix.SessionID("FIX.4.4", "NOBODY", "NOWHERE"), message("B")) is False


async def test_inbound_application_messages_reach_the_loop_handler() -> None:
    got: list[str] = []

    class Collect(SafeApplication):
        async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
            got.append(f"{session_id.toString()} {msg_type(message)} {body_value(message, 11)}")

    app = Collect("collect", asyncio.get_running_loop())
    app.fromApp(message("D", (11, "ord-1")), SESSION)
    assert app.bridge is not None
    await app.bridge.join()
    assert got == ["FIX.4.4:BROKER->CLIENT1 D ord-1"]


async def test_behind_the_message_log_the_msg_type_it_read_drives_the_throttle(tmp_path: Path) -> None:
    """The message log's wrapper hands the MsgType it read to the application (no second read on the engine
    thread); a per-type limit still applies to exactly that type, and everything else reaches the loop."""
    got: list[str] = []

    class Collect(SafeApplication):
        async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
            got.append(f"{msg_type(message)} {body_value(message, 262) or body_value(message, 11)}")

    app = Collect("collect", asyncio.get_running_loop())
    app.throttle = ThrottlePolicy(app=Rate(100, 100), per_type={"V": Rate(1, 1)})
    wrapper = LoggingApplication(app, MessageLog(tmp_path), StoreScrubber(tmp_path))
    wrapper.fromApp(message("D", (11, "ord-1")), SESSION)
    wrapper.fromApp(message("V", (262, "md-1")), SESSION)
    wrapper.fromApp(message("V", (262, "md-2")), SESSION)  # over the MarketDataRequest rate: refused
    wrapper.fromApp(message("D", (11, "ord-2")), SESSION)
    assert app.bridge is not None
    await app.bridge.join()
    assert got == ["D ord-1", "V md-1", "D ord-2"]


def test_reject_builders() -> None:
    order = message("D", (11, "ord-9"), seq=12)
    reject = unsupported_message_type(order)
    assert msg_type(reject) == "j"
    assert [body_value(reject, tag) for tag in (45, 58, 372, 380)] == ["12", "Unsupported Message Type", "D", "3"]
    custom = business_reject(order, 4, "Exchange unavailable", ref_id="ord-9")
    assert [body_value(custom, tag) for tag in (379, 380)] == ["ord-9", "4"]
    session_level = session_reject(order, 5, "Value is incorrect (out of range) for this tag", ref_tag=40)
    assert [body_value(session_level, tag) for tag in (45, 371, 372, 373)] == ["12", "40", "D", "5"]
    assert body_value(logout("bye"), 58) == "bye" and body_value(logout(), 58) is None


def test_sequence_numbers_beyond_32_bits_are_told_apart_from_numbers_the_engine_reads() -> None:
    for fits in ("0", "1", "000", "2147483647", "-2147483647", "00000000000000000002147483647", "-1", ""):
        assert not _beyond_seqnum(fits), fits
    for wraps in ("2147483648", "-2147483649", "99999999999", "1" * 40, "9" * 8000):  # 8,000 digits: no int()
        assert _beyond_seqnum(wraps), wraps[:20]
    for not_a_number in ("x", "1e9", "+5", "²", "12 3", "-"):
        assert not _beyond_seqnum(not_a_number), not_a_number  # the engine's own validation refuses these


def test_a_resend_request_beyond_32_bits_is_made_unreadable_before_the_engine_serves_it() -> None:
    session_id = fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")
    message = fix.Message()
    message.getHeader().setField(35, "2")
    message.setField(7, "2147483648")
    message.setField(16, "0")
    _defuse_resend_range(message, session_id)
    assert body_value(message, 7) not in (None, "2147483648") and not body_value(message, 7).lstrip("-").isdigit()
    assert body_value(message, 16) == "0"  # in range: untouched
