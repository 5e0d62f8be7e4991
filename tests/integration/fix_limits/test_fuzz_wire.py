"""Bounded wire fuzz of the gateway's public FIX port (``settings.fix_port``: the QuickFIX acceptor today,
the front door once it stands there): garbled, truncated, oversized and mutated frames over many
connections, logged on (141=Y with the password, so each starts at MsgSeqNum 1) and not. Oracle: the
process stays up, every connection's probe is answered or the connection closed within the bound, and
resident memory stays bounded. ``bench/fuzz_fix.py --frames 1000000`` is the long run."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from gateway_process import PASSWORDS, GatewayProcess

sys.path.insert(0, str(Path(__file__).parents[2] / "fuzz"))

from fix_fuzz import WireFuzzer, env_int

pytestmark = pytest.mark.integration

FRAMES = env_int("FUZZ_WIRE_FRAMES", 1500)
# Without a front door, QuickFIX waits for the rest of a partial first message forever, and holds its one
# engine thread meanwhile, stalling every other session (issue 9): until the front door (h1) is merged,
# connections run one at a time and pre-logon hangs are tolerated; with it, two at a time and any hang fails.
FRONT_DOOR = importlib.util.find_spec("gateway.frontdoor") is not None


@pytest.mark.timeout(240)
def test_gateway_survives_fuzzed_frames(seeded_db: str, tmp_path: Path) -> None:
    gateway = GatewayProcess(seeded_db, tmp_path)
    gateway.start()
    assert gateway.process is not None
    try:
        fuzzer = WireFuzzer(gateway.port, dict(PASSWORDS), frames_per_connection=40, answer_timeout=15.0,
                            alive=gateway.alive, pid=gateway.process.pid, max_size=32_768)
        figures = fuzzer.run(FRAMES, seed=int(os.environ.get("FUZZ_SEED", "20261202")), workers=2 if FRONT_DOOR else 1)
        print(figures.summary(), figures.hang_samples)
        assert figures.crashes == 0 and gateway.alive(), gateway.log()[-4000:]
        assert figures.frames >= FRAMES
        assert figures.connections > FRAMES // 40
        logged_on_hangs = [s for s in figures.hang_samples if "logged_on=True" in s]
        assert not logged_on_hangs, figures.summary() + str(figures.hang_samples)
        if FRONT_DOOR:
            assert figures.hangs == 0, figures.summary() + str(figures.hang_samples)
        assert figures.rss_kb and max(figures.rss_kb) < figures.rss_kb[0] + 300 * 1024, figures.summary()
    finally:
        status = gateway.stop()
    assert status == 0, gateway.log()[-4000:]
    assert "fix.callback_failed" not in gateway.log()
