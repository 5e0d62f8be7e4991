"""CPU per drop copy (gateway/oms/drop_copy.py, ADR 027): what one client ExecutionReport costs the gateway's
event loop for each drop-copy session that sees its account.

    .venv/bin/python bench/drop_copy.py [--n 20000] [--runs 3]

A real QuickFIX acceptor with one drop-copy session that is not logged on (the demo's DROPCOPY1 most of the
time): each copy is built, handed to QuickFIX, serialised and persisted in the session's FileStore (what a
logged-on session does too, before the socket write). CPU time of this process (``time.process_time``),
median of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import quickfix as fix

from brokerage.services import free_port
from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec
from gateway.oms.drop_copy import CopyRoutes, DropCopy, copy_fields
from gateway.oms.fix_codec import build_message, field_list

REPORT = field_list([
    (37, "O0123456789ab01234567"), (11, "BENCH1-123"), (17, "E0123456789ab01234567"), (150, "F"), (39, "2"),
    (1, "ACC-BENCH1"), (55, "AAPL"), (54, "1"), (38, Decimal("1")), (40, "2"), (44, Decimal("230.12")),
    (59, "3"), (32, Decimal("1")), (31, Decimal("229.99")), (151, Decimal("0")), (14, Decimal("1")),
    (6, Decimal("229.99")), (60, "20261202-10:00:00.000")])


def per_call(action: object, n: int, runs: int) -> tuple[list[float], float]:
    figures = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(n):
            action()  # type: ignore[operator]
        figures.append((time.process_time() - start) / n * 1e6)
    return figures, statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        endpoint = Endpoint(name="bench-drop-copy", role="acceptor", data_dir=Path(tmp), port=free_port())
        engine = Engine(endpoint, [SessionSpec(sender_comp_id="BROKER", target_comp_id="DROPCOPY1")],
                        SafeApplication("bench"))
        engine.start()
        try:
            copies = DropCopy(SafeApplication.send, "BROKER")
            none = DropCopy(SafeApplication.send, "BROKER")
            copies.routes = CopyRoutes({"ACC-BENCH1": frozenset({"DROPCOPY1"})})
            for label, action in (
                    ("no drop-copy session provisioned", lambda: none.copy(REPORT)),
                    ("copy_fields (routing walk)", lambda: copy_fields(REPORT)),
                    ("build_message of the copy", lambda: build_message("8", REPORT)),
                    ("whole copy to 1 session (store write)", lambda: copies.copy(REPORT))):
                figures, median = per_call(action, args.n, args.runs)
                runs = ", ".join(f"{f:.1f}" for f in figures)
                print(f"{label:40s} median {median:7.1f} µs CPU per report  (runs: {runs})")
            assert copies.copies_sent == args.n * args.runs
            session = fix.Session.lookupSession(fix.SessionID("FIX.4.4", "BROKER", "DROPCOPY1"))
            print(f"copies stored: next MsgSeqNum {session.getExpectedSenderNum()}")
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
