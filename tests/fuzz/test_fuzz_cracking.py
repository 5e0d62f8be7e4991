"""In-process fuzzing of message cracking: the decoders that read what QuickFIX hands to Python (order
entry ``gateway.oms.fix_codec``, client market data ``gateway.md.wire``, the exchange's
``exchange.fix_codec``, the ingestor's text decoder ``marketdata.fix_md``) fed mutated messages raise only
their documented errors, never anything else (and never a C++ abort, which would end this process)."""

from __future__ import annotations

import contextlib
import random

import quickfix as fix
from fix_fuzz import Fields, encode, env_int, field_lists, mutate_bytes

from exchange import fix_codec as exchange_codec
from fixsession.throttle import Rate, SessionThrottle, ThrottlePolicy
from gateway.md import wire
from gateway.md.subscriptions import MdReject, MdRequest
from gateway.oms import fix_codec
from marketdata import fix_md

CASES = env_int("FUZZ_CRACKING_CASES", 3000)


def as_message(msg_type: str, body: Fields) -> fix.Message:
    """What QuickFIX would hand over: a Message whose fields were set one by one (never parsed from text
    here: parsing broken text in-process throws a C++ exception that aborts)."""
    message = fix.Message()
    header = message.getHeader()
    header.setField(35, msg_type)
    header.setField(34, "7")
    for tag, value in body:
        if tag > 0:
            message.setField(tag, value.decode("latin-1"))
    return message


def test_order_entry_decoders_raise_only_bad_field() -> None:
    parsers = {"D": fix_codec.parse_new_order, "F": fix_codec.parse_cancel, "G": fix_codec.parse_replace,
               "H": fix_codec.parse_status, "8": fix_codec.parse_venue_report}
    seen = 0
    for msg_type, body in field_lists(seed=7, count=CASES):
        parse = parsers.get(msg_type)
        if parse is None:
            continue
        with contextlib.suppress(fix_codec.BadField):
            parse(as_message(msg_type, body))
        seen += 1
    assert seen > CASES // 4


def test_market_data_request_decoder_answers_every_request() -> None:
    for msg_type, body in field_lists(seed=11, count=CASES):
        if msg_type != "V":
            continue
        try:
            result = wire.decode_request(as_message("V", body))
        except wire.MissingMdReqId:
            continue
        assert isinstance(result, MdRequest | MdReject)


def test_exchange_decoders_raise_only_malformed() -> None:
    for msg_type, body in field_lists(seed=13, count=CASES):
        message = as_message(msg_type, body)
        try:
            if msg_type == "D":
                exchange_codec.order_request(message)
            elif msg_type in ("F", "G"):
                exchange_codec.change_request(message, msg_type == "G")
            elif msg_type == "V":
                exchange_codec.md_request(message)
        except exchange_codec.Malformed:
            pass


def test_market_data_text_decoder_raises_only_malformed() -> None:
    rng = random.Random(17)
    seeds = [encode("W", [(262, b"r"), (55, b"AAPL"), (268, b"2"), (269, b"0"), (270, b"1.5"), (271, b"100"),
                          (269, b"1"), (270, b"1.6"), (271, b"200")], "EXCHANGE", "MDFEED", 3),
             encode("X", [(262, b"r"), (268, b"1"), (279, b"1"), (269, b"0"), (55, b"AAPL"), (270, b"1.5"),
                          (271, b"10")], "EXCHANGE", "MDFEED", 4),
             encode("Y", [(262, b"r"), (281, b"0"), (58, b"unknown")], "EXCHANGE", "MDFEED", 5)]
    for _ in range(CASES):
        raw = mutate_bytes(rng, rng.choice(seeds), 4096).decode("latin-1")
        with contextlib.suppress(fix_md.MalformedMarketData):
            fix_md.decode(raw)


def test_throttle_takes_any_message_type() -> None:
    rng = random.Random(19)
    throttle = SessionThrottle(ThrottlePolicy(app=Rate(5, 10), admin=Rate(2, 4)))
    now = 0
    for _ in range(CASES):
        now += rng.randrange(0, 10_000_000)
        kind = rng.choice(["0", "1", "2", "D", "V", "", "\x01", "ZZZZ", "A", "5"])
        assert throttle.check(kind, now).verdict is not None
