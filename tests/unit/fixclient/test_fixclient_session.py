"""The pure client session: logon/logout, heartbeats and TestRequests, gaps, resends, sequence resets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixclient import events as ev
from fixclient.codec import Frame, FrameReader, encode_message, field
from fixclient.session import Output, ResendMode, Session, SessionConfig, SessionState, SessionStateError

FIXED = datetime(2026, 11, 21, 10, 0, 0, 250000, tzinfo=UTC)


def make(**kwargs: object) -> Session:
    options: dict[str, object] = {"heartbeat_interval": 30, "password": "demo1", **kwargs}
    config = SessionConfig("CLIENT1", "BROKER", **options)  # type: ignore[arg-type]
    return Session(config, wall_clock=lambda: FIXED)


def peer(msg_type: str, seq: int, body: list[tuple[int, object]] | None = None, poss_dup: bool = False,
         sender: str = "BROKER", target: str = "CLIENT1") -> Frame:
    header: list[tuple[int, object]] = [(49, sender), (56, target), (34, seq), (52, "20261121-10:00:00.000")]
    if poss_dup:
        header += [(43, "Y"), (122, "20261121-09:59:59.000")]
    [frame] = FrameReader().feed(encode_message(msg_type, header, body or []))
    assert isinstance(frame, Frame)
    return frame


def sent(out: Output) -> list[Frame]:
    reader = FrameReader()
    frames = [f for data in out.outgoing for f in reader.feed(data)]
    assert all(isinstance(f, Frame) for f in frames)
    return frames  # type: ignore[return-value]


def tags(frame: Frame, *wanted: int) -> tuple[str | None, ...]:
    return tuple(field(frame.message, t) for t in wanted)


def logged_on(**kwargs: object) -> Session:
    session = make(**kwargs)
    session.start_logon(0.0)
    out = session.on_frame(peer("A", 1, [(98, 0), (108, 30)]), 0.1)
    assert session.state is SessionState.ACTIVE, out
    return session


def execution_report(seq: int, cl_ord_id: str = "C1", poss_dup: bool = False) -> Frame:
    return peer("8", seq, [(37, "O1"), (11, cl_ord_id), (17, f"E{seq}"), (150, "0"), (39, "0"), (55, "AAPL"),
                           (54, "1"), (151, "100"), (14, "0"), (6, "0")], poss_dup)


# -- logon / logout -------------------------------------------------------------------------------
def test_logon_carries_credentials_heartbeat_and_first_seq_num() -> None:
    session = make(username="alice", heartbeat_interval=5)
    [logon] = sent(session.start_logon(0.0))
    assert logon.msg_type == "A"
    assert tags(logon, 49, 56, 34, 98, 108, 553, 554, 141) == ("CLIENT1", "BROKER", "1", "0", "5", "alice", "demo1",
                                                                None)
    assert tags(logon, 52) == ("20261121-10:00:00.250",)
    assert session.state is SessionState.LOGON_SENT


def test_reset_seq_num_logon_starts_both_directions_at_one() -> None:
    config = SessionConfig("CLIENT1", "BROKER", reset_seq_num=True)
    session = Session(config, next_sender_seq_num=40, next_target_seq_num=70)
    [logon] = sent(session.start_logon(0.0))
    assert tags(logon, 34, 141) == ("1", "Y")
    out = session.on_frame(peer("A", 1, [(98, 0), (108, 30), (141, "Y")]), 0.1)
    assert out.events == [ev.LoggedOn(30, True)]
    assert (session.next_sender_seq_num, session.next_target_seq_num) == (2, 2)


def test_logon_answer_makes_the_session_active() -> None:
    session = make()
    session.start_logon(0.0)
    out = session.on_frame(peer("A", 1, [(98, 0), (108, 30)]), 0.1)
    assert out.events == [ev.LoggedOn(30, False)]
    assert out.outgoing == [] and out.disconnect is None
    assert session.next_target_seq_num == 2


def test_logout_in_answer_to_logon_is_a_refusal_with_its_text() -> None:
    session = make()
    session.start_logon(0.0)
    out = session.on_frame(peer("5", 1, [(58, "invalid password")]), 0.1)
    assert out.disconnect == "logon refused: invalid password"
    assert out.events == [ev.LoggedOut("invalid password", initiated_by_peer=True)]
    assert session.state is SessionState.CLOSED


def test_first_message_other_than_logon_ends_the_session() -> None:
    session = make()
    session.start_logon(0.0)
    out = session.on_frame(execution_report(1), 0.1)
    [logout] = sent(out)
    assert logout.msg_type == "5"
    assert out.disconnect is not None and "not Logon" in out.disconnect


def test_logon_with_higher_seq_num_logs_on_then_asks_for_the_gap() -> None:
    session = make()
    session.start_logon(0.0)
    out = session.on_frame(peer("A", 5, [(98, 0), (108, 30)]), 0.1)
    assert session.state is SessionState.ACTIVE
    [resend] = sent(out)
    assert resend.msg_type == "2" and tags(resend, 7, 16) == ("1", "0")
    assert session.next_target_seq_num == 1  # the gap 1..4 is still owed


def test_no_logon_answer_times_out() -> None:
    session = make()
    session.start_logon(0.0)
    assert session.next_deadline() == 10.0
    assert session.on_timer(9.9).disconnect is None
    assert session.on_timer(10.0).disconnect == "no Logon reply within the logon timeout"


def test_client_logout_waits_for_the_peer_logout() -> None:
    session = logged_on()
    [logout] = sent(session.start_logout(1.0, "bye"))
    assert logout.msg_type == "5" and tags(logout, 58) == ("bye",)
    assert session.state is SessionState.LOGOUT_SENT
    out = session.on_frame(peer("5", 2), 1.1)
    assert out.outgoing == []
    assert out.events == [ev.LoggedOut(None, initiated_by_peer=False)]
    assert out.disconnect == "logged out"


def test_peer_logout_is_answered_with_logout() -> None:
    session = logged_on()
    out = session.on_frame(peer("5", 2, [(58, "end of day")]), 1.0)
    [reply] = sent(out)
    assert reply.msg_type == "5"
    assert out.disconnect == "logged out: end of day"


def test_logout_reply_timeout() -> None:
    session = logged_on()
    session.start_logout(1.0)
    assert session.on_timer(6.0).disconnect == "no Logout reply within the logout timeout"


def test_sending_application_messages_requires_an_active_session() -> None:
    session = make()
    with pytest.raises(SessionStateError):
        session.send_app("D", [(11, "X")], 0.0)
    session = logged_on()
    with pytest.raises(SessionStateError):
        session.send_app("0", [], 0.0)
    [order] = FrameReader().feed(session.send_app("D", [(11, "X")], 1.0))
    assert isinstance(order, Frame) and tags(order, 34, 11) == ("2", "X")


# -- heartbeats ------------------------------------------------------------------------------------
def test_test_request_is_answered_with_heartbeat_carrying_its_id() -> None:
    session = logged_on()
    out = session.on_frame(peer("1", 2, [(112, "PING-7")]), 1.0)
    [heartbeat] = sent(out)
    assert heartbeat.msg_type == "0" and tags(heartbeat, 112) == ("PING-7",)
    assert ev.HeartbeatSent("PING-7") in out.events


def test_test_request_without_id_is_rejected() -> None:
    session = logged_on()
    [reject] = sent(session.on_frame(peer("1", 2), 1.0))
    assert reject.msg_type == "3" and tags(reject, 45, 373) == ("2", "1")


def test_heartbeat_is_sent_after_an_interval_without_sending() -> None:
    session = logged_on(heartbeat_interval=10)
    assert session.next_deadline() == pytest.approx(10.0)
    assert session.on_timer(9.0).outgoing == []
    session.on_frame(peer("0", 2), 9.5)  # the peer is alive
    [heartbeat] = sent(session.on_timer(10.0))
    assert heartbeat.msg_type == "0" and tags(heartbeat, 112) == (None,)


def test_silence_earns_a_test_request_then_a_disconnect() -> None:
    session = logged_on(heartbeat_interval=10)
    out = session.on_timer(12.1)
    assert [f.msg_type for f in sent(out)] == ["1"]
    assert ev.TestRequestSent("TEST-1") in out.events
    assert session.on_timer(20.0).disconnect is None  # TestRequest pending: no second one
    out = session.on_timer(24.2)
    assert out.disconnect is not None and "silent" in out.disconnect


def test_answer_to_our_test_request_keeps_the_session_alive() -> None:
    session = logged_on(heartbeat_interval=10)
    session.on_timer(12.1)
    out = session.on_frame(peer("0", 2, [(112, "TEST-1")]), 12.5)
    assert out.events == [ev.HeartbeatReceived("TEST-1")]
    assert session.on_timer(24.2).disconnect is None


# -- sequence numbers ------------------------------------------------------------------------------
def test_gap_sends_one_resend_request_and_queues_until_filled() -> None:
    session = logged_on()
    out = session.on_frame(execution_report(5, "C5"), 1.0)
    [resend] = sent(out)
    assert resend.msg_type == "2" and tags(resend, 7, 16) == ("2", "0")
    assert out.events == [ev.GapDetected(2, 5, resend_request_sent=True)]
    assert out.app == []
    out = session.on_frame(execution_report(6, "C6"), 1.1)
    assert out.outgoing == [] and out.events == [ev.GapDetected(2, 6, resend_request_sent=False)]
    # the peer replays 2..4 (PossDup) and its copies of 5 and 6 are duplicates by then
    delivered = []
    for seq in (2, 3, 4, 5, 6):
        delivered += session.on_frame(execution_report(seq, f"C{seq}", poss_dup=True), 1.2).app
    assert [field(f.message, 11) for f in delivered] == ["C2", "C3", "C4", "C5", "C6"]
    assert session.next_target_seq_num == 7


def test_gap_filled_event_when_caught_up() -> None:
    session = logged_on()
    session.on_frame(execution_report(4), 1.0)
    out = session.on_frame(peer("4", 2, [(123, "Y"), (36, 4)], poss_dup=True), 1.1)
    assert ev.SequenceReset(4, gap_fill=True) in out.events
    assert ev.GapFilled(5) in out.events
    assert len(out.app) == 1  # the queued report at 4
    assert session.next_target_seq_num == 5


def test_gap_fill_moves_the_expected_seq_num() -> None:
    session = logged_on()
    out = session.on_frame(peer("4", 2, [(123, "Y"), (36, 10)], poss_dup=True), 1.0)
    assert out.events == [ev.SequenceReset(10, gap_fill=True)]
    assert session.next_target_seq_num == 10


def test_gap_fill_backwards_is_rejected() -> None:
    session = logged_on()
    [reject] = sent(session.on_frame(peer("4", 2, [(123, "Y"), (36, 2)]), 1.0))
    assert reject.msg_type == "3" and tags(reject, 373) == ("5",)
    assert session.next_target_seq_num == 3


def test_sequence_reset_mode_ignores_msg_seq_num_and_moves_forward_only() -> None:
    session = logged_on()
    out = session.on_frame(peer("4", 99, [(36, 20)]), 1.0)
    assert out.events == [ev.SequenceReset(20, gap_fill=False)] and out.outgoing == []
    assert session.next_target_seq_num == 20
    [reject] = sent(session.on_frame(peer("4", 1, [(36, 5)]), 1.1))
    assert reject.msg_type == "3" and tags(reject, 373) == ("5",)
    assert session.next_target_seq_num == 20


def test_seq_num_too_low_without_poss_dup_is_fatal() -> None:
    session = logged_on()
    session.on_frame(execution_report(2), 1.0)
    out = session.on_frame(execution_report(2), 1.1)
    [logout] = sent(out)
    assert logout.msg_type == "5"
    assert tags(logout, 58) == ("MsgSeqNum too low, expecting 3 but received 2",)
    assert session.state is SessionState.CLOSED and out.disconnect


def test_poss_dup_below_expected_is_ignored() -> None:
    session = logged_on()
    session.on_frame(execution_report(2), 1.0)
    out = session.on_frame(execution_report(2, poss_dup=True), 1.1)
    assert out.app == [] and out.outgoing == [] and out.events == [ev.DuplicateIgnored(2)]


def test_poss_dup_at_the_expected_seq_num_is_delivered() -> None:
    session = logged_on()
    out = session.on_frame(execution_report(2, poss_dup=True), 1.0)
    assert len(out.app) == 1 and field(out.app[0].message, 43) == "Y"


def test_missing_seq_num_is_fatal() -> None:
    session = logged_on()
    [frame] = FrameReader().feed(encode_message("0", [(49, "BROKER"), (56, "CLIENT1")], []))
    assert isinstance(frame, Frame)
    out = session.on_frame(frame, 1.0)
    assert out.disconnect is not None and "MsgSeqNum" in out.disconnect


def test_wrong_comp_id_is_rejected_and_fatal() -> None:
    session = logged_on()
    out = session.on_frame(peer("0", 2, sender="SOMEONE"), 1.0)
    assert [f.msg_type for f in sent(out)] == ["3", "5"]
    assert out.disconnect == "CompID problem"


def test_peer_reject_is_delivered_to_the_application() -> None:
    session = logged_on()
    out = session.on_frame(peer("3", 2, [(45, 7), (373, 1), (58, "Required tag missing")]), 1.0)
    assert [f.msg_type for f in out.app] == ["3"]


# -- answering the peer's ResendRequest --------------------------------------------------------------
def test_gap_fill_mode_answers_a_resend_request_with_one_gap_fill() -> None:
    session = logged_on(resend_mode=ResendMode.GAP_FILL)
    for i in range(3):
        session.send_app("D", [(11, f"C{i}")], 1.0)
    assert session.next_sender_seq_num == 5
    out = session.on_frame(peer("2", 2, [(7, 2), (16, 0)]), 2.0)
    [gap_fill] = sent(out)
    assert gap_fill.msg_type == "4"
    assert tags(gap_fill, 34, 123, 36, 43) == ("2", "Y", "5", "Y")
    assert field(gap_fill.message, 122) is not None
    assert session.next_sender_seq_num == 5  # a gap fill reuses the range's numbers
    assert out.events == [ev.ResendAnswered(2, 4, 0)]


def test_replay_mode_resends_application_messages_with_poss_dup() -> None:
    session = logged_on()
    assert session.config.resend_mode is ResendMode.REPLAY  # the default
    session.send_app("D", [(11, "C2")], 1.0)  # seq 2
    session.on_timer(31.0)  # heartbeat, seq 3: admin, gap-filled on replay
    session.send_app("D", [(11, "C4")], 32.0)  # seq 4
    out = session.on_frame(peer("2", 2, [(7, 1), (16, 0)]), 33.0)
    replay = sent(out)
    assert [(f.msg_type, field(f.message, 34)) for f in replay] == [("4", "1"), ("D", "2"), ("4", "3"), ("D", "4")]
    assert [field(f.message, 36) for f in replay if f.msg_type == "4"] == ["2", "4"]
    assert all(field(f.message, 43) == "Y" and field(f.message, 122) for f in replay)
    assert tags(replay[1], 11) == ("C2",)
    assert out.events == [ev.ResendAnswered(1, 4, 2)]


def test_resend_request_arriving_with_a_gap_is_answered_once() -> None:
    session = logged_on(resend_mode=ResendMode.GAP_FILL)
    session.send_app("D", [(11, "C2")], 1.0)
    out = session.on_frame(peer("2", 4, [(7, 2), (16, 0)]), 2.0)
    assert [f.msg_type for f in sent(out)] == ["4", "2"]  # our gap fill, then our own ResendRequest
    out = session.on_frame(peer("4", 2, [(123, "Y"), (36, 4)], poss_dup=True), 2.1)
    assert out.outgoing == []  # the queued ResendRequest was already answered
    assert session.next_target_seq_num == 5


def test_bad_resend_request_is_rejected() -> None:
    session = logged_on()
    [reject] = sent(session.on_frame(peer("2", 2, [(7, 2)]), 1.0))
    assert reject.msg_type == "3" and tags(reject, 373) == ("1",)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=3, max_value=40), st.data())
def test_whatever_is_lost_every_report_is_delivered_once_and_in_order(last: int, data: st.DataObject) -> None:
    """Messages 2..last go out; any subset arrives. The peer then answers our single ResendRequest by
    replaying from the requested seq num (PossDup), as QuickFIX does. Each report reaches the
    application exactly once, in sequence order."""
    session = logged_on()
    arrived = data.draw(st.lists(st.sampled_from(range(2, last + 1)), unique=True).map(sorted))
    delivered: list[str | None] = []
    resend_requests = []
    for seq in arrived:
        out = session.on_frame(execution_report(seq, f"C{seq}"), 1.0)
        delivered += [field(f.message, 11) for f in out.app]
        resend_requests += [f for f in sent(out) if f.msg_type == "2"]
    if resend_requests:
        assert len(resend_requests) == 1
        begin = int(tags(resend_requests[0], 7)[0] or 0)
        for seq in range(begin, last + 1):
            out = session.on_frame(execution_report(seq, f"C{seq}", poss_dup=True), 2.0)
            delivered += [field(f.message, 11) for f in out.app]
            assert out.disconnect is None
    if resend_requests:
        assert delivered == [f"C{s}" for s in range(2, last + 1)]
    else:  # nothing was missing before the last arrival (a lost tail shows only with the next message)
        assert delivered == [f"C{s}" for s in arrived] == [f"C{s}" for s in range(2, len(arrived) + 2)]
