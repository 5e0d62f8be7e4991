"""Token bucket per session: burst, sustained rate, exactness, backwards clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.model import BusinessRejectReason
from gateway.oms.rate_limit import RateLimit, TokenBucket, take

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def send(bucket: TokenBucket, times: list[datetime]) -> tuple[TokenBucket, int]:
    passed = 0
    for at in times:
        bucket, throttled = take(bucket, at)
        passed += throttled is None
    return bucket, passed


def test_burst_then_throttle_with_a_clear_text() -> None:
    limit = RateLimit(messages_per_second=10, burst=5)
    bucket, passed = send(limit.full(T0), [T0] * 5)
    assert passed == 5
    bucket, throttled = take(bucket, T0)
    assert throttled is not None and throttled.reason is BusinessRejectReason.OTHER
    assert throttled.text.startswith("message rate limit exceeded: 10 messages per second (burst 5)")


def test_refills_at_the_configured_rate() -> None:
    limit = RateLimit(messages_per_second=10, burst=5)
    bucket, _ = send(limit.full(T0), [T0] * 5)
    bucket, throttled = take(bucket, T0 + timedelta(milliseconds=99))
    assert throttled is not None  # 0.99 of a token
    bucket, throttled = take(bucket, T0 + timedelta(milliseconds=100))
    assert throttled is None
    bucket, _ = take(bucket, T0 + timedelta(seconds=60))
    assert bucket.tokens == 4  # capped at the burst, minus the one just spent


def test_sustained_rate_over_a_second() -> None:
    limit = RateLimit(messages_per_second=50, burst=1)
    times = [T0 + timedelta(milliseconds=i) for i in range(1000)]  # 1000 messages in one second
    _, passed = send(limit.full(T0), times)
    assert passed == 50  # the first, then one every 20 ms from t=20ms to t=980ms


def test_backwards_clock_refills_nothing() -> None:
    limit = RateLimit(messages_per_second=1, burst=1)
    bucket, _ = take(limit.full(T0), T0)
    bucket, throttled = take(bucket, T0 - timedelta(hours=1))
    assert throttled is not None
    bucket, throttled = take(bucket, T0 + timedelta(milliseconds=999))
    assert throttled is not None


def test_refuses_naive_timestamps_and_bad_limits() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        take(RateLimit().full(T0), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        RateLimit(messages_per_second=0)


@settings(max_examples=100, deadline=None)
@given(rate=st.integers(1, 100), burst=st.integers(1, 50),
       gaps=st.lists(st.integers(0, 200_000), min_size=1, max_size=200))
def test_never_more_than_burst_plus_rate_times_elapsed(rate: int, burst: int, gaps: list[int]) -> None:
    times, at = [], T0
    for gap in gaps:
        at += timedelta(microseconds=gap)
        times.append(at)
    _, passed = send(RateLimit(rate, burst).full(T0), times)
    elapsed = (times[-1] - T0).total_seconds()
    assert passed <= burst + rate * elapsed + 1e-9
    assert passed >= min(len(times), burst)
