"""The Logon gate, pure: parse the first message strictly and decide, given the provisioned session
(or None), whether it may reach the engine.

    request = parse_logon(message, limits)          # LogonRequest, or Refusal
    refusal = session_refusal(request, session, our_comp_id, require_password)   # Refusal | None

``session_refusal`` calls ``verify_password`` (scrypt, ~50 ms of CPU): the shell runs it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.fix.sessions import BAD_CREDENTIALS, DISABLED, ClientSession, logon_refusal
from gateway.frontdoor.framing import FrameError, parse_strict
from gateway.frontdoor.policy import Limits

NOT_A_LOGON = "First message must be a Logon (35=A)"
MALFORMED = "Malformed Logon"
WRONG_TARGET = "Wrong TargetCompID"
WRONG_BEGIN_STRING = "Wrong BeginString"
LOCKED_OUT = "Too many failed logons, retry later"

# Tags that must not repeat in a Logon: the engine and the front door must read the same values.
_SINGLE = frozenset({8, 9, 35, 34, 43, 49, 50, 52, 56, 57, 97, 98, 108, 115, 116, 122, 128, 129, 141,
                     142, 143, 144, 145, 553, 554, 789, 925, 10})


@dataclass(frozen=True)
class Refusal:
    reason: str
    # Enough of the Logon was understood to answer with a Logout (CompIDs known)
    sender_comp_id: str | None = None
    target_comp_id: str | None = None
    begin_string: str | None = None
    credential_failure: bool = False  # counts toward the failed-logon back-off

    @property
    def can_reply(self) -> bool:
        return bool(self.sender_comp_id and self.target_comp_id and self.begin_string)


@dataclass(frozen=True)
class LogonRequest:
    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    heartbeat_seconds: int
    reset_seq_num: bool
    username: str | None
    password: str | None = field(repr=False)


def _comp_id(raw: bytes | None) -> str | None:
    if raw is None or not 0 < len(raw) <= 64 or not all(0x21 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


def parse_logon(message: bytes, limits: Limits) -> LogonRequest | Refusal:
    try:
        fields = parse_strict(message)
    except FrameError as exc:
        return Refusal(f"{MALFORMED}: {exc}")
    values: dict[int, bytes] = {}
    for tag, value in fields:
        if tag in _SINGLE and tag in values:
            return Refusal(f"{MALFORMED}: tag {tag} repeated")
        values.setdefault(tag, value)
    sender, target = _comp_id(values.get(49)), _comp_id(values.get(56))
    begin = fields[0][1].decode("ascii", "replace")
    if fields[2][0] != 35:
        return Refusal(f"{MALFORMED}: MsgType (35) must be the third field")
    if fields[2][1] != b"A":
        return Refusal(NOT_A_LOGON, sender, target, begin)
    if sender is None or target is None:
        return Refusal(f"{MALFORMED}: SenderCompID (49) and TargetCompID (56) required")
    heartbeat = values.get(108, b"")
    if not heartbeat.isdigit() or not limits.heartbeat_min <= int(heartbeat) <= limits.heartbeat_max:
        return Refusal(f"HeartBtInt (108) must be {limits.heartbeat_min}..{limits.heartbeat_max} seconds",
                       sender, target, begin)
    username, password = values.get(553), values.get(554)
    return LogonRequest(
        begin_string=begin, sender_comp_id=sender, target_comp_id=target, heartbeat_seconds=int(heartbeat),
        reset_seq_num=values.get(141) == b"Y",
        username=username.decode("utf-8", "replace") if username is not None else None,
        password=password.decode("utf-8", "replace") if password is not None else None)


def session_refusal(request: LogonRequest, session: ClientSession | None, our_comp_id: str,
                    require_password: bool) -> Refusal | None:
    """Why this Logon may not reach the engine, or None. Unknown CompIDs and bad passwords get the same
    reason (no oracle for which CompIDs exist)."""
    def refuse(reason: str, credential_failure: bool = True) -> Refusal:
        return Refusal(reason, request.sender_comp_id, request.target_comp_id, request.begin_string,
                       credential_failure=credential_failure)

    if request.target_comp_id != our_comp_id:
        return refuse(WRONG_TARGET)
    if session is None:
        return refuse(BAD_CREDENTIALS)
    if request.begin_string != session.begin_string:
        return refuse(WRONG_BEGIN_STRING)
    if not require_password:
        return refuse(DISABLED, credential_failure=False) if not session.enabled else None
    reason = logon_refusal(session, request.username, request.password)
    if reason is None:
        return None
    return refuse(reason, credential_failure=reason != DISABLED)
