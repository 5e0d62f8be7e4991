"""bench/fix_roundtrip.py runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[3] / "bench" / "fix_roundtrip.py"


@pytest.mark.parametrize("against", ["exchange", "echo"])
def test_bench_completes_round_trips(against: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--against", against, "--orders", "30", "--pipelined", "60", "--window", "8",
         "--warmup", "5"], capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sequential (1 in flight)  n=    30" in result.stdout
    assert "pipelined (8 in flight)   n=    60" in result.stdout
    assert "round trips/s" in result.stdout and "p99=" in result.stdout
