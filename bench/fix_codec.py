"""CPU per call of the order path's QuickFIX codec (gateway/oms/fix_codec.py), in isolation.

    .venv/bin/python bench/fix_codec.py [--n 20000]

CPU time (``time.process_time``), so the figures hold on a busy machine where end-to-end runs cannot
show a 2 % change. Per lifecycle the gateway parses one NewOrderSingle and two venue reports and
builds about four messages (client PendingNew and fill reports, the venue NewOrderSingle).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from decimal import Decimal

import quickfix as fix

from fixsession.messages import copy_session_id
from gateway.oms.fix_codec import build_message, field_list, parse_new_order, parse_venue_report, transact_time

PAIRS: list[tuple[int, object]] = [
    (37, "O0123456789ab01234567"), (11, "BENCH1-123"), (17, "E0123456789ab01234567"), (150, "F"), (39, "2"),
    (1, "ACC-BENCH1"), (55, "AAPL"), (54, "1"), (38, Decimal("1")), (40, "2"), (44, Decimal("230.12")),
    (59, "3"), (32, Decimal("1")), (31, Decimal("229.99")), (151, Decimal("0")), (14, Decimal("1")),
    (6, Decimal("229.99")), (60, "20261202-10:00:00.000")]
NEW_ORDER = ("8=FIX.4.4\x019=150\x0135=D\x0149=BENCH1\x0156=BROKER\x0134=12\x0152=20261202-10:00:00.000\x01"
             "11=BENCH1-1\x0121=1\x0155=AAPL\x0154=1\x0160=20261202-10:00:00.000\x0138=1\x0140=2\x0144=230.12\x01"
             "59=3\x0110=000\x01")
VENUE_FILL = ("8=FIX.4.4\x019=200\x0135=8\x0149=EXCHANGE\x0156=GATEWAY\x0134=99\x0152=20261202-10:00:00.000\x01"
              "37=X123\x0111=O0123456789ab01234567\x0117=X-1-77\x01150=F\x0139=2\x0155=AAPL\x0154=1\x0138=1\x01"
              "44=230.12\x0132=1\x0131=229.99\x01151=0\x0114=1\x016=229.99\x0110=000\x01")


def per_call(label: str, action: Callable[[], object], n: int) -> None:
    start = time.process_time()
    for _ in range(n):
        action()
    print(f"{label:44s} {(time.process_time() - start) / n * 1e6:7.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    fields = field_list(PAIRS)
    report = build_message("8", fields)
    new_order, venue_fill = fix.Message(NEW_ORDER, False), fix.Message(VENUE_FILL, False)
    session_id = fix.SessionID("FIX.4.4", "BROKER", "BENCH1")
    per_call("field_list (18 pairs, 7 Decimals)", lambda: field_list(PAIRS), n)
    per_call("build_message (ExecutionReport, 18 fields)", lambda: build_message("8", fields), n)
    per_call("Message.toString", report.toString, n)
    per_call("parse_new_order (NewOrderSingle)", lambda: parse_new_order(new_order), n)
    per_call("parse_venue_report (fill)", lambda: parse_venue_report(venue_fill), n)
    per_call("bridge copy: fix.Message(message)", lambda: fix.Message(new_order), n)
    per_call("bridge copy: copy_session_id", lambda: copy_session_id(session_id), n)
    per_call("transact_time", transact_time, n)


if __name__ == "__main__":
    main()
