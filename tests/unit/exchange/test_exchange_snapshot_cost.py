"""Snapshots of the venue: compact pickling of what it keeps per order, and a cadence that follows their cost
(ADR 032)."""

from __future__ import annotations

import copyreg
import io
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.client_orders import ChangeRequest, ClientOrder, OrderRequest
from exchange.journal import Journal
from exchange.reports import CancelReject, ExecReport


def _report(**changes: object) -> ExecReport:
    base: dict[str, object] = dict(
        session="FIX.4.4:EXCHANGE->GATEWAY", order_id="7", cl_ord_id="O1", exec_id="1-9", exec_type="F",
        ord_status="1", symbol="AAPL", side="1", order_qty=Decimal("10"), leaves_qty=Decimal("4"),
        cum_qty=Decimal("6.0"), avg_px=Decimal("309.200000"), price=Decimal("310.00"), last_qty=Decimal(6),
        last_px=Decimal("309.2"), last_liquidity_ind="2", account="ACC-1", exec_restatement_reason=99)
    base.update(changes)
    return ExecReport(**base)  # type: ignore[arg-type]


def test_kept_objects_round_trip_exactly_with_shared_references() -> None:
    request = OrderRequest("O1", "AAPL", "1", "2", "0", Decimal("10"), Decimal("310.00"), None, "ACC-1",
                           peg_offset=Decimal("-0.50"))
    order = ClientOrder("s", request, 7, "O1", qty=request.qty, price=request.price, leaves=Decimal("4"),
                        cum=Decimal("6"), avg_px=Decimal("309.2"), status="1")
    state = {"by_id": {7: order}, "by_clordid": {("s", "O1"): order, ("s", "O0"): order},
             "fills": {7: [_report(), _report(poss_resend=True, text="résumé", stop_px=None)]},
             "other": [CancelReject("s", "NONE", "C1", "O9", "8", "1", 1, "unknown order"),
                       ChangeRequest("C1", "O1", "AAPL", "1", None, Decimal("1E+1"))]}
    back = pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == state
    assert back["by_clordid"][("s", "O1")] is back["by_id"][7]  # one object, as before pickling
    again = back["by_id"][7]
    assert str(again.price) == "310.00" and str(again.request.peg_offset) == "-0.50"  # Decimal exponents kept
    assert str(back["other"][1].price) == "1E+1"


def test_snapshots_pickled_before_compact_pickling_still_load() -> None:
    """The state a previous version wrote (the ``__getstate__`` dataclasses generate) reads back as it was."""
    report = _report()

    class OldPickler(pickle.Pickler):
        def reducer_override(self, obj: object) -> Any:
            if type(obj) is ExecReport:
                return copyreg.__newobj__, (ExecReport,), obj.__getstate__()  # type: ignore[attr-defined]
            return NotImplemented

    buffer = io.BytesIO()
    OldPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(report)
    raw = buffer.getvalue()
    assert b"_restore" not in raw
    assert pickle.loads(raw) == report


def test_snapshot_waits_until_a_replay_would_cost_as_much_as_a_snapshot(tmp_path: Path) -> None:
    journal = Journal(tmp_path, fsync=False, snapshot_every=2, snapshot_seconds=3600, snapshot_cost_ratio=1.0)
    journal.recover()
    journal.snapshot_cost = 0.5  # the last snapshot took half a second to pickle
    journal.append({"op": "tick"}, cost=0.1)
    journal.append({"op": "tick"}, cost=0.1)
    assert not journal.snapshot_due  # two commands are past snapshot_every, but replaying them costs 0.2 s
    journal.append({"op": "tick"}, cost=0.3)
    assert journal.snapshot_due
    journal.snapshot_now({"state": 1})
    assert journal.replay_seconds == 0.0 and journal.in_log == 0 and journal.snapshot_cost > 0
    assert not journal.snapshot_due
    journal.close()


def test_without_a_ratio_the_fixed_bounds_alone_decide(tmp_path: Path) -> None:
    journal = Journal(tmp_path, fsync=False, snapshot_every=2, snapshot_seconds=3600)
    journal.recover()
    journal.snapshot_cost = 10.0
    journal.append({"op": "tick"})
    assert not journal.snapshot_due
    journal.append({"op": "tick"})
    assert journal.snapshot_due
    journal.close()
