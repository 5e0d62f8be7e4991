"""What the session state machine reports besides bytes to send: past-tense session events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoggedOn:
    heartbeat_interval: int
    reset_seq_num: bool


@dataclass(frozen=True, slots=True)
class LoggedOut:
    text: str | None
    initiated_by_peer: bool


@dataclass(frozen=True, slots=True)
class HeartbeatReceived:
    test_req_id: str | None


@dataclass(frozen=True, slots=True)
class HeartbeatSent:
    test_req_id: str | None  # set when it answers a TestRequest


@dataclass(frozen=True, slots=True)
class TestRequestSent:
    __test__ = False  # not a pytest class despite the name
    test_req_id: str


@dataclass(frozen=True, slots=True)
class GapDetected:
    """Inbound MsgSeqNum ran ahead: a ResendRequest went out (unless one already covers it)."""

    expected: int
    received: int
    resend_request_sent: bool


@dataclass(frozen=True, slots=True)
class GapFilled:
    """Inbound sequence caught up with everything asked for in the ResendRequest."""

    next_expected: int


@dataclass(frozen=True, slots=True)
class ResendAnswered:
    """The peer asked for a resend; we replayed ``replayed`` messages and gap-filled the rest."""

    begin: int
    end: int
    replayed: int


@dataclass(frozen=True, slots=True)
class SequenceReset:
    new_seq_no: int
    gap_fill: bool


@dataclass(frozen=True, slots=True)
class DuplicateIgnored:
    """A PossDup message with a MsgSeqNum already processed."""

    seq_num: int


@dataclass(frozen=True, slots=True)
class RejectSent:
    """We refused a peer's message at session level (35=3)."""

    ref_seq_num: int
    reason: int
    text: str


@dataclass(frozen=True, slots=True)
class GarbledIgnored:
    reason: str
    size: int


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """Unrecoverable session error: we sent Logout and the transport must close."""

    text: str


SessionEvent = (
    LoggedOn
    | LoggedOut
    | HeartbeatReceived
    | HeartbeatSent
    | TestRequestSent
    | GapDetected
    | GapFilled
    | ResendAnswered
    | SequenceReset
    | DuplicateIgnored
    | RejectSent
    | GarbledIgnored
    | ProtocolViolation
)
