"""Per-session inbound message throttle and resend cap (pure: no clock, no I/O, no QuickFIX).

Every inbound message of a logged-on session passes ``SessionThrottle.check(msg_type, now_ns)``:

* a message type with its own rate (``ThrottlePolicy.per_type``: e.g. MarketDataRequest 35=V,
  TestRequest 35=1, ResendRequest 35=2) spends a token of that bucket first;
* then a token of its class: application messages share one bucket, admin messages another
  (Logon and Logout are never throttled: a Logout must always end a session cleanly).

An application message over its limit is refused (the caller answers BusinessMessageReject 380=0);
an admin message over its limit ends the session (Logout with the reason): a client that spams
TestRequest/ResendRequest is broken or hostile, and rejecting admin messages is not an option
(a session Reject would itself be an answer to each one).

Tokens are integer millionths refilled per elapsed nanosecond, so buckets never drift; a clock that
steps backwards refills nothing. ``Decision.first`` marks the first refusal of an episode (the
previous message passed), so a caller audits an episode once, not each refused message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "ADMIN_TYPES",
    "UNTHROTTLED",
    "Bucket",
    "Decision",
    "Rate",
    "SessionThrottle",
    "ThrottlePolicy",
    "Verdict",
    "resend_span",
]

ADMIN_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})
UNTHROTTLED = frozenset({"A", "5"})  # Logon (the front door caps those) and Logout

_MICRO = 1_000_000
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: int
    burst: int

    def __post_init__(self) -> None:
        if self.per_second < 1 or self.burst < 1:
            raise ValueError(f"a rate needs positive figures, got {self.per_second}/s burst {self.burst}")

    def describe(self) -> str:
        return f"{self.per_second}/s (burst {self.burst})"


def _default_per_type() -> dict[str, Rate]:
    return {
        "V": Rate(10, 50),  # MarketDataRequest: each one may cost a Redis read and snapshots
        "1": Rate(2, 10),  # TestRequest: one per HeartBtInt is what a live client needs
        "2": Rate(1, 5),  # ResendRequest: each one reads the message store
        "4": Rate(5, 50),  # SequenceReset
        "3": Rate(10, 100),  # Reject
    }


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    app: Rate = Rate(200, 1000)
    admin: Rate = Rate(10, 50)
    per_type: dict[str, Rate] = field(default_factory=_default_per_type)

    def rate_of(self, msg_type: str) -> Rate:
        return self.admin if msg_type in ADMIN_TYPES else self.app


class Verdict(Enum):
    ALLOW = "allow"
    REJECT = "reject"  # application message: refused with a BusinessMessageReject, session stays
    DISCONNECT = "disconnect"  # admin message: the session is logged out with the reason


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    text: str = ""
    first: bool = False  # first refusal since the last message that passed

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


ALLOWED = Decision(Verdict.ALLOW)


@dataclass(slots=True)
class Bucket:
    rate: Rate
    micro_tokens: int
    updated_ns: int

    @classmethod
    def full(cls, rate: Rate, now_ns: int) -> Bucket:
        return cls(rate, rate.burst * _MICRO, now_ns)

    def refill(self, now_ns: int) -> None:
        elapsed = max(0, now_ns - self.updated_ns)
        gained = elapsed * self.rate.per_second * _MICRO // _NS_PER_S
        if gained:  # until a whole micro-token accrues, the elapsed time keeps counting
            self.micro_tokens = min(self.rate.burst * _MICRO, self.micro_tokens + gained)
            self.updated_ns = now_ns

    def has_token(self) -> bool:
        return self.micro_tokens >= _MICRO

    def spend(self) -> None:
        self.micro_tokens -= _MICRO


@dataclass(slots=True)
class SessionThrottle:
    """One session's buckets. Not thread-safe: used on the engine thread only."""

    policy: ThrottlePolicy
    buckets: dict[str, Bucket] = field(default_factory=dict)
    refusing: bool = False
    refused: int = 0  # messages refused in all

    def _bucket(self, key: str, rate: Rate, now_ns: int) -> Bucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket.full(rate, now_ns)
        else:
            bucket.refill(now_ns)
        return bucket

    def check(self, msg_type: str, now_ns: int) -> Decision:
        """Spend one token for a message of ``msg_type`` arriving at ``now_ns`` (monotonic)."""
        if msg_type in UNTHROTTLED:
            return ALLOWED
        admin = msg_type in ADMIN_TYPES
        class_key = "admin" if admin else "app"
        class_bucket = self._bucket(class_key, self.policy.rate_of(msg_type), now_ns)
        type_rate = self.policy.per_type.get(msg_type)
        type_bucket = self._bucket(msg_type, type_rate, now_ns) if type_rate is not None else None
        limited: tuple[str, Rate] | None = None
        if type_bucket is not None and type_rate is not None and not type_bucket.has_token():
            limited = (f"35={msg_type}", type_rate)
        elif not class_bucket.has_token():
            limited = (f"{class_key} messages", class_bucket.rate)
        if limited is None:
            class_bucket.spend()
            if type_bucket is not None:
                type_bucket.spend()
            self.refusing = False
            return ALLOWED
        what, rate = limited
        first = not self.refusing
        self.refusing = True
        self.refused += 1
        if admin:
            return Decision(Verdict.DISCONNECT, f"throttled: {what} above {rate.describe()}; logging out", first)
        return Decision(Verdict.REJECT, f"throttled: {what} above {rate.describe()}; message not processed", first)


def resend_span(begin: int, end: int, next_sender_seq: int) -> tuple[int, int]:
    """The range a ResendRequest (7=``begin``, 16=``end``) really asks for, given our next outbound
    MsgSeqNum: 16=0 (FIX 4.2+) or anything past what was sent means "up to the last one sent".
    Returns (begin, last); last < begin when there is nothing to resend."""
    last_sent = next_sender_seq - 1
    if end == 0 or end > last_sent:
        end = last_sent
    return begin, end
