"""The exchange's run epoch prefixes its ExecIDs and sets its OrderID range. A restart takes the next one; a venue
whose state directory was wiped must not start again from the ids an earlier state handed out (a ledger that
remembers them would take the new reports for duplicates and drop them)."""

from __future__ import annotations

import shutil
from pathlib import Path

from exchange.reports import ExecIds
from exchange.server import next_run_epoch
from exchange.state import ORDER_IDS_PER_RUN

DEC_3_2026 = 1_796_256_000.0  # 2026-12-03T00:00:00Z


def test_restarts_count_up_from_a_time_based_first_epoch(tmp_path: Path) -> None:
    first = next_run_epoch(tmp_path / "exchange", now=DEC_3_2026)
    assert first == 29_030_400  # seconds since 2026-01-01
    assert next_run_epoch(tmp_path / "exchange", now=DEC_3_2026 + 3600) == first + 1  # persisted: +1
    assert first * ORDER_IDS_PER_RUN < 2**63  # OrderIDs stay within a signed 64-bit integer


def test_a_wiped_state_directory_does_not_reuse_earlier_exec_ids(tmp_path: Path) -> None:
    state = tmp_path / "exchange"
    issued = set()
    for restart in range(3):
        ids = ExecIds(next_run_epoch(state, now=DEC_3_2026 + restart))
        issued |= {ids.next() for _ in range(5)}
    shutil.rmtree(state)  # the venue's state is lost; the broker's ledger keeps what it saw
    again = ExecIds(next_run_epoch(state, now=DEC_3_2026 + 60))
    assert not {again.next() for _ in range(5)} & issued
