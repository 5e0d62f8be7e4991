"""The client side of a FIX 4.4 session as a pure state machine: frames and clock ticks in, bytes out.

No sockets, no sleeping: every method takes ``now`` (monotonic seconds) and returns an :class:`Output`
saying what to send, which application messages to deliver, what happened, and whether to disconnect.
Timers are decisions ("at time t a Heartbeat is due"): :meth:`Session.next_deadline` says when to call
:meth:`Session.on_timer` next.

Answering the peer's ResendRequest: by default (``ResendMode.REPLAY``) the application messages this
process sent are kept in memory and resent with PossDupFlag=Y and OrigSendingTime; admin messages and
anything sent before a restart (the memory is gone; only the sequence numbers were saved) are covered by
SequenceReset-GapFill. The client never replays orders from an earlier run: a NewOrderSingle from
yesterday's crash is an order the trader may no longer want. Gap-filling *live* messages is not safe
either: a peer that queued our order behind a gap drops it when the fill covers its MsgSeqNum.
``ResendMode.GAP_FILL`` (gap-fill everything) exists for tests of exactly that behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from fixclient import events as ev
from fixclient.codec import BEGIN_STRING, Frame, GarbledFrame, encode_message, format_utc_timestamp

__all__ = ["Output", "ResendMode", "Session", "SessionConfig", "SessionState", "SessionStateError"]

ADMIN_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
MAX_QUEUED = 10_000  # inbound messages held while a gap is being filled

# SessionRejectReason(373) codes used here
REQUIRED_TAG_MISSING = 1
VALUE_INCORRECT = 5
COMP_ID_PROBLEM = 9


class SessionState(StrEnum):
    DISCONNECTED = "disconnected"  # transport up, Logon not sent yet
    LOGON_SENT = "logon_sent"
    ACTIVE = "active"
    LOGOUT_SENT = "logout_sent"
    CLOSED = "closed"


class ResendMode(StrEnum):
    GAP_FILL = "gap_fill"
    REPLAY = "replay"


class SessionStateError(RuntimeError):
    """The caller asked for something the session cannot do in its current state (a usage error)."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    sender_comp_id: str
    target_comp_id: str
    heartbeat_interval: int = 30
    username: str | None = None
    password: str | None = None
    reset_seq_num: bool = False
    begin_string: str = BEGIN_STRING
    resend_mode: ResendMode = ResendMode.REPLAY
    logon_timeout: float = 10.0
    logout_timeout: float = 5.0
    # Silence longer than heartbeat*1.2 earns a TestRequest; longer than heartbeat*2.4 ends the session
    # (QuickFIX's figures, so both ends agree on what "late" means).
    test_request_factor: float = 1.2
    store_limit: int = 10_000  # sent application messages kept for REPLAY


@dataclass(slots=True)
class Output:
    outgoing: list[bytes] = field(default_factory=list)
    app: list[Frame] = field(default_factory=list)  # application messages and peer Rejects, in order
    events: list[ev.SessionEvent] = field(default_factory=list)
    disconnect: str | None = None  # set when the transport must be closed, with the reason


@dataclass(frozen=True, slots=True)
class _Sent:
    msg_type: str
    body: tuple[tuple[int, object], ...]
    sending_time: str


class Session:
    def __init__(
        self,
        config: SessionConfig,
        next_sender_seq_num: int = 1,
        next_target_seq_num: int = 1,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.state = SessionState.DISCONNECTED
        self.next_sender_seq_num = next_sender_seq_num
        self.next_target_seq_num = next_target_seq_num
        self._wall_clock = wall_clock
        self._last_sent = 0.0
        self._last_received = 0.0
        self._state_since = 0.0
        self._test_req_pending = False
        self._test_req_counter = 0
        self._queue: dict[int, Frame] = {}
        self._resend_until: int | None = None  # highest seqnum seen when our ResendRequest went out
        self._sent: dict[int, _Sent] = {}
        self._answered_early: set[int] = set()  # ResendRequests answered while queued behind a gap

    # -- outbound -------------------------------------------------------------------------------
    def start_logon(self, now: float) -> Output:
        if self.state is not SessionState.DISCONNECTED:
            raise SessionStateError(f"cannot log on in state {self.state}")
        cfg = self.config
        if cfg.reset_seq_num:
            self.next_sender_seq_num = self.next_target_seq_num = 1
            self._sent.clear()
        body: list[tuple[int, object]] = [(98, 0), (108, cfg.heartbeat_interval)]
        if cfg.reset_seq_num:
            body.append((141, "Y"))
        if cfg.username is not None:
            body.append((553, cfg.username))
        if cfg.password is not None:
            body.append((554, cfg.password))
        out = Output(outgoing=[self._stamp("A", body, now)])
        self._enter(SessionState.LOGON_SENT, now)
        self._last_received = now
        return out

    def send_app(self, msg_type: str, body: Iterable[tuple[int, object]], now: float) -> bytes:
        """Encode an application message with the next MsgSeqNum (only while logged on)."""
        if self.state is not SessionState.ACTIVE:
            raise SessionStateError(f"cannot send {msg_type!r} in state {self.state}: not logged on")
        if msg_type in ADMIN_TYPES:
            raise SessionStateError(f"{msg_type!r} is a session message; the session sends those itself")
        fields = tuple(body)
        seq = self.next_sender_seq_num
        sending_time = format_utc_timestamp(self._wall_clock())
        data = self._stamp(msg_type, fields, now, sending_time)
        if self.config.resend_mode is ResendMode.REPLAY:  # OrigSendingTime on replay = this SendingTime
            self._sent[seq] = _Sent(msg_type, fields, sending_time)
            if len(self._sent) > self.config.store_limit:
                del self._sent[next(iter(self._sent))]
        return data

    def consume_sender_seq_num(self, now: float) -> int:
        """Take a MsgSeqNum for a message the caller encodes itself (raw injection in tests)."""
        seq = self.next_sender_seq_num
        self.next_sender_seq_num += 1
        self._last_sent = now
        return seq

    def start_logout(self, now: float, text: str | None = None) -> Output:
        if self.state is not SessionState.ACTIVE:
            raise SessionStateError(f"cannot log out in state {self.state}")
        out = Output(outgoing=[self._stamp("5", [(58, text)] if text else [], now)])
        self._enter(SessionState.LOGOUT_SENT, now)
        return out

    def on_disconnected(self) -> None:
        self.state = SessionState.CLOSED

    # -- inbound --------------------------------------------------------------------------------
    def on_garbled(self, garbled: GarbledFrame) -> Output:
        return Output(events=[ev.GarbledIgnored(garbled.reason, len(garbled.raw))])

    def on_frame(self, frame: Frame, now: float) -> Output:
        out = Output()
        if self.state in (SessionState.DISCONNECTED, SessionState.CLOSED):
            return out
        self._last_received = now
        self._test_req_pending = False
        if frame.get(8) != self.config.begin_string:
            return self._fatal(out, now, f"BeginString {frame.get(8)!r} is not {self.config.begin_string}")
        seq_text = frame.get(34)
        if seq_text is None or not seq_text.isdigit():
            return self._fatal(out, now, "MsgSeqNum(34) missing or not a number")
        seq = int(seq_text)
        if frame.get(49) != self.config.target_comp_id or frame.get(56) != self.config.sender_comp_id:
            self._reject(out, now, seq, frame.msg_type, COMP_ID_PROBLEM, "CompID problem")
            return self._fatal(out, now, "CompID problem")
        if self.state is SessionState.LOGON_SENT:
            return self._on_logon_reply(frame, seq, now, out)
        if frame.msg_type == "5":
            return self._on_logout(frame, seq, out, now)
        if frame.msg_type == "4" and frame.get(123) != "Y":
            return self._on_sequence_reset(frame, seq, out, now)
        if seq > self.next_target_seq_num:
            self._on_gap(frame, seq, out, now)
        elif seq < self.next_target_seq_num:
            if frame.get(43) == "Y":
                out.events.append(ev.DuplicateIgnored(seq))
                return out
            text = f"MsgSeqNum too low, expecting {self.next_target_seq_num} but received {seq}"
            return self._fatal(out, now, text)
        else:
            self._process(frame, seq, out, now)
            self._drain(out, now)
        return out

    def _on_logon_reply(self, frame: Frame, seq: int, now: float, out: Output) -> Output:
        if frame.msg_type == "5":
            text = frame.get(58)
            out.events.append(ev.LoggedOut(text, initiated_by_peer=True))
            out.disconnect = f"logon refused: {text or 'no reason given'}"
            self.state = SessionState.CLOSED
            return out
        if frame.msg_type != "A":
            return self._fatal(out, now, f"first message is {frame.msg_type!r}, not Logon")
        reset = frame.get(141) == "Y"
        if reset:
            self.next_target_seq_num = 1
        if seq < self.next_target_seq_num:
            text = f"MsgSeqNum too low, expecting {self.next_target_seq_num} but received {seq}"
            return self._fatal(out, now, text)
        self._enter(SessionState.ACTIVE, now)
        out.events.append(ev.LoggedOn(self.config.heartbeat_interval, reset))
        if seq > self.next_target_seq_num:
            self._on_gap(frame, seq, out, now)
        else:
            self.next_target_seq_num += 1
        return out

    def _on_logout(self, frame: Frame, seq: int, out: Output, now: float) -> Output:
        if seq == self.next_target_seq_num:
            self.next_target_seq_num += 1
        text = frame.get(58)
        by_peer = self.state is not SessionState.LOGOUT_SENT
        if by_peer:
            out.outgoing.append(self._stamp("5", [], now))
        out.events.append(ev.LoggedOut(text, initiated_by_peer=by_peer))
        out.disconnect = f"logged out: {text}" if text else "logged out"
        self.state = SessionState.CLOSED
        return out

    def _on_sequence_reset(self, frame: Frame, seq: int, out: Output, now: float) -> Output:
        """Reset mode (no GapFillFlag): MsgSeqNum is ignored; NewSeqNo may only move forwards."""
        new_seq = _int(frame.get(36))
        if new_seq is None:
            self._reject(out, now, seq, "4", REQUIRED_TAG_MISSING, "NewSeqNo(36) missing")
            return out
        if new_seq < self.next_target_seq_num:
            text = f"NewSeqNo {new_seq} would move the expected MsgSeqNum {self.next_target_seq_num} back"
            self._reject(out, now, seq, "4", VALUE_INCORRECT, text)
            return out
        self.next_target_seq_num = new_seq
        out.events.append(ev.SequenceReset(new_seq, gap_fill=False))
        self._drain(out, now)
        return out

    def _on_gap(self, frame: Frame, seq: int, out: Output, now: float) -> None:
        if frame.msg_type == "2":
            self._answer_resend(frame, seq, out, now)  # answer at once, or both ends wait on each other
            self._answered_early.add(seq)
        if len(self._queue) >= MAX_QUEUED:
            self._fatal(out, now, "too many messages queued behind a sequence gap")
            return
        self._queue[seq] = frame
        send = self._resend_until is None
        if send:
            begin = self.next_target_seq_num
            out.outgoing.append(self._stamp("2", [(7, begin), (16, 0)], now))
        self._resend_until = max(self._resend_until or 0, seq)
        out.events.append(ev.GapDetected(self.next_target_seq_num, seq, resend_request_sent=send))

    def _drain(self, out: Output, now: float) -> None:
        while self._queue and out.disconnect is None:
            for stale in [s for s in self._queue if s < self.next_target_seq_num]:
                del self._queue[stale]
            nxt = self._queue.pop(self.next_target_seq_num, None)
            if nxt is None:
                break
            if nxt.msg_type == "5":
                self._on_logout(nxt, self.next_target_seq_num, out, now)
                return
            self._process(nxt, self.next_target_seq_num, out, now)
        if self._resend_until is not None and self.next_target_seq_num > self._resend_until:
            self._resend_until = None
            out.events.append(ev.GapFilled(self.next_target_seq_num))

    def _process(self, frame: Frame, seq: int, out: Output, now: float) -> None:
        """Handle the message carrying exactly the expected MsgSeqNum."""
        self.next_target_seq_num = seq + 1
        match frame.msg_type:
            case "0":
                out.events.append(ev.HeartbeatReceived(frame.get(112)))
            case "1":
                test_req_id = frame.get(112)
                if test_req_id is None:
                    self._reject(out, now, seq, "1", REQUIRED_TAG_MISSING, "TestReqID(112) missing")
                else:
                    out.outgoing.append(self._stamp("0", [(112, test_req_id)], now))
                    out.events.append(ev.HeartbeatSent(test_req_id))
            case "2":
                if seq in self._answered_early:
                    self._answered_early.discard(seq)
                else:
                    self._answer_resend(frame, seq, out, now)
            case "4":
                new_seq = _int(frame.get(36))
                if new_seq is None or new_seq <= seq:
                    self._reject(out, now, seq, "4", VALUE_INCORRECT, f"bad NewSeqNo {frame.get(36)!r} for gap fill")
                else:
                    self.next_target_seq_num = new_seq
                    out.events.append(ev.SequenceReset(new_seq, gap_fill=True))
            case "A":
                pass  # a Logon resent during a gap fill: already logged on
            case _:
                out.app.append(frame)  # application messages and session Rejects (35=3)

    def _answer_resend(self, frame: Frame, seq: int, out: Output, now: float) -> None:
        begin = _int(frame.get(7))
        end = _int(frame.get(16))
        if begin is None or end is None or begin < 1:
            self._reject(out, now, seq, "2", REQUIRED_TAG_MISSING, "BeginSeqNo(7)/EndSeqNo(16) missing or bad")
            return
        last_sent = self.next_sender_seq_num - 1
        end = last_sent if end == 0 or end > last_sent else end
        if begin > end:
            out.events.append(ev.ResendAnswered(begin, end, 0))
            return
        replayed = 0
        gap_start: int | None = None
        for s in range(begin, end + 1):
            sent = self._sent.get(s) if self.config.resend_mode is ResendMode.REPLAY else None
            if sent is None:
                gap_start = s if gap_start is None else gap_start
                continue
            if gap_start is not None:
                out.outgoing.append(self._gap_fill(gap_start, s))
                gap_start = None
            out.outgoing.append(self._replay(s, sent))
            replayed += 1
        if gap_start is not None:
            out.outgoing.append(self._gap_fill(gap_start, end + 1))
        self._last_sent = now
        out.events.append(ev.ResendAnswered(begin, end, replayed))

    # -- timers ---------------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        hb = self.config.heartbeat_interval
        match self.state:
            case SessionState.LOGON_SENT:
                return self._state_since + self.config.logon_timeout
            case SessionState.LOGOUT_SENT:
                return self._state_since + self.config.logout_timeout
            case SessionState.ACTIVE:
                factor = self.config.test_request_factor * (2 if self._test_req_pending else 1)
                return min(self._last_sent + hb, self._last_received + hb * factor)
            case _:
                return None

    def on_timer(self, now: float) -> Output:
        out = Output()
        hb = self.config.heartbeat_interval
        if self.state is SessionState.LOGON_SENT and now - self._state_since >= self.config.logon_timeout:
            out.disconnect = "no Logon reply within the logon timeout"
            self.state = SessionState.CLOSED
        elif self.state is SessionState.LOGOUT_SENT and now - self._state_since >= self.config.logout_timeout:
            out.disconnect = "no Logout reply within the logout timeout"
            self.state = SessionState.CLOSED
        elif self.state is SessionState.ACTIVE:
            silence = now - self._last_received
            if silence >= hb * self.config.test_request_factor * 2:
                out.disconnect = f"peer silent for {silence:.1f}s (TestRequest unanswered)"
                self.state = SessionState.CLOSED
                return out
            if silence >= hb * self.config.test_request_factor and not self._test_req_pending:
                self._test_req_counter += 1
                test_req_id = f"TEST-{self._test_req_counter}"
                out.outgoing.append(self._stamp("1", [(112, test_req_id)], now))
                out.events.append(ev.TestRequestSent(test_req_id))
                self._test_req_pending = True
            if now - self._last_sent >= hb:
                out.outgoing.append(self._stamp("0", [], now))
                out.events.append(ev.HeartbeatSent(None))
        return out

    # -- encoding -------------------------------------------------------------------------------
    def _header(self, seq: int, extra: Iterable[tuple[int, object]] = (),
                sending_time: str | None = None) -> list[tuple[int, object]]:
        cfg = self.config
        return [(49, cfg.sender_comp_id), (56, cfg.target_comp_id), (34, seq),
                (52, sending_time or format_utc_timestamp(self._wall_clock())), *extra]

    def _stamp(self, msg_type: str, body: Iterable[tuple[int, object]], now: float,
               sending_time: str | None = None) -> bytes:
        seq = self.next_sender_seq_num
        self.next_sender_seq_num += 1
        self._last_sent = now
        return encode_message(msg_type, self._header(seq, (), sending_time), body, self.config.begin_string)

    def _gap_fill(self, seq: int, new_seq_no: int) -> bytes:
        orig = format_utc_timestamp(self._wall_clock())
        header = self._header(seq, [(43, "Y"), (122, orig)])
        return encode_message("4", header, [(123, "Y"), (36, new_seq_no)], self.config.begin_string)

    def _replay(self, seq: int, sent: _Sent) -> bytes:
        header = self._header(seq, [(43, "Y"), (122, sent.sending_time)])
        return encode_message(sent.msg_type, header, sent.body, self.config.begin_string)

    def _reject(self, out: Output, now: float, ref_seq: int, ref_type: str, reason: int, text: str) -> None:
        body = [(45, ref_seq), (372, ref_type), (373, reason), (58, text)]
        out.outgoing.append(self._stamp("3", body, now))
        out.events.append(ev.RejectSent(ref_seq, reason, text))

    def _fatal(self, out: Output, now: float, text: str) -> Output:
        out.outgoing.append(self._stamp("5", [(58, text)], now))
        out.events.append(ev.ProtocolViolation(text))
        out.disconnect = text
        self.state = SessionState.CLOSED
        return out

    def _enter(self, state: SessionState, now: float) -> None:
        self.state = state
        self._state_since = now


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None
