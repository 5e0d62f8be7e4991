"""The per-session throttle (pure): token buckets per message class and per type, verdicts, episodes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixsession.throttle import Bucket, Rate, SessionThrottle, ThrottlePolicy, Verdict, resend_span

S = 1_000_000_000  # ns


def policy(**per_type: Rate) -> ThrottlePolicy:
    return ThrottlePolicy(app=Rate(2, 4), admin=Rate(1, 3), per_type=dict(per_type))


def test_application_messages_over_the_burst_are_rejected_then_refill() -> None:
    throttle = SessionThrottle(policy())
    verdicts = [throttle.check("D", 0).verdict for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 4 + [Verdict.REJECT] * 2
    assert throttle.check("D", S // 2).verdict is Verdict.ALLOW  # 2/s: one token after 0.5 s
    assert throttle.check("D", S // 2).verdict is Verdict.REJECT
    assert throttle.refused == 3


def test_every_application_type_shares_the_bucket() -> None:
    throttle = SessionThrottle(policy())
    for kind in ("D", "V", "B", "H"):
        assert throttle.check(kind, 0).allowed
    decision = throttle.check("AE", 0)
    assert decision.verdict is Verdict.REJECT and "app messages above 2/s (burst 4)" in decision.text


def test_admin_flood_disconnects_and_logon_logout_are_never_throttled() -> None:
    throttle = SessionThrottle(policy())
    assert [throttle.check("1", 0).verdict for _ in range(4)][-1] is Verdict.DISCONNECT
    assert throttle.check("5", 0).allowed and throttle.check("A", 0).allowed
    assert throttle.check("D", 0).allowed  # admin spam does not eat the application budget


def test_a_type_with_its_own_rate_is_limited_before_its_class() -> None:
    throttle = SessionThrottle(policy(V=Rate(1, 1)))
    assert throttle.check("V", 0).allowed
    decision = throttle.check("V", 0)
    assert decision.verdict is Verdict.REJECT and "35=V" in decision.text
    assert throttle.check("D", 0).allowed  # a refused V spent no class token: D still has 3


def test_first_marks_the_start_of_each_episode() -> None:
    throttle = SessionThrottle(policy())
    for _ in range(4):
        throttle.check("D", 0)
    firsts = [throttle.check("D", 0).first for _ in range(3)]
    assert firsts == [True, False, False]
    assert throttle.check("D", S).allowed
    assert throttle.check("D", S).allowed
    assert throttle.check("D", S).first  # a new episode


def test_clock_going_backwards_refills_nothing() -> None:
    throttle = SessionThrottle(policy())
    for _ in range(4):
        throttle.check("D", 10 * S)
    assert not throttle.check("D", 5 * S).allowed
    assert not throttle.check("D", 10 * S).allowed


def test_partial_tokens_accumulate_across_many_small_steps() -> None:
    bucket = Bucket(Rate(1, 1), 0, 0)
    for step in range(1, 1001):
        bucket.refill(step * S // 1000)
    assert bucket.has_token()


@given(st.lists(st.integers(min_value=0, max_value=10 * S), max_size=200))
def test_never_more_than_burst_plus_rate_times_elapsed(times: list[int]) -> None:
    throttle = SessionThrottle(policy())
    times.sort()
    allowed = sum(throttle.check("D", t).allowed for t in times)
    span = (times[-1] - times[0]) if times else 0
    assert allowed <= 4 + 2 * span / S + 1


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Rate(0, 1)


@pytest.mark.parametrize(("begin", "end", "next_seq", "expected"), [
    (1, 0, 11, (1, 10)),  # 16=0: everything sent so far
    (5, 7, 11, (5, 7)),
    (5, 999, 11, (5, 10)),  # past what was sent
    (12, 0, 11, (12, 10)),  # nothing to resend
])
def test_resend_span(begin: int, end: int, next_seq: int, expected: tuple[int, int]) -> None:
    assert resend_span(begin, end, next_seq) == expected
