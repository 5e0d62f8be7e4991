"""Per-session message rate limit: a token bucket fed with timestamps (pure: no clock, no I/O).

Tokens are counted in millionths as integers, refilled per elapsed microsecond, so the arithmetic is
exact and a bucket never drifts. A message over the limit is answered with a BusinessMessageReject
(35=j, 380=0 Other: FIX 4.4 has no throttle code) and the session stays up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from gateway.oms.model import BusinessRejectReason

__all__ = ["RateLimit", "Throttled", "TokenBucket", "take"]

_MICRO = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RateLimit:
    messages_per_second: int = 50
    burst: int = 100  # how many may arrive at once after a quiet spell

    def __post_init__(self) -> None:
        if self.messages_per_second < 1 or self.burst < 1:
            raise ValueError(f"rate limit needs positive figures, got {self.messages_per_second}/s burst {self.burst}")

    def full(self, at: datetime) -> TokenBucket:
        return TokenBucket(self, self.burst * _MICRO, _micros(at))


@dataclass(frozen=True, slots=True)
class Throttled:
    """Why a message was refused: the figures for the BusinessMessageReject's Text (58)."""

    limit: RateLimit
    reason: BusinessRejectReason = BusinessRejectReason.OTHER

    @property
    def text(self) -> str:
        return (f"message rate limit exceeded: {self.limit.messages_per_second} messages per second "
                f"(burst {self.limit.burst}); message not processed")


@dataclass(frozen=True, slots=True)
class TokenBucket:
    limit: RateLimit
    micro_tokens: int
    updated_us: int

    @property
    def tokens(self) -> int:
        return self.micro_tokens // _MICRO


def _micros(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return (at - _EPOCH) // _ONE_US  # exact: no float timestamp


def take(bucket: TokenBucket, at: datetime) -> tuple[TokenBucket, Throttled | None]:
    """Spend one token for a message arriving ``at``; ``Throttled`` when none is left.

    A clock that steps backwards refills nothing (never a burst of free tokens)."""
    now = _micros(at)
    elapsed = max(0, now - bucket.updated_us)
    capacity = bucket.limit.burst * _MICRO
    tokens = min(capacity, bucket.micro_tokens + elapsed * bucket.limit.messages_per_second)
    updated = max(now, bucket.updated_us)
    if tokens < _MICRO:
        return replace(bucket, micro_tokens=tokens, updated_us=updated), Throttled(bucket.limit)
    return replace(bucket, micro_tokens=tokens - _MICRO, updated_us=updated), None
