import asyncio
import sys
from pathlib import Path

from brokerage.supervisor import MAX_BACKOFF_SECONDS, ProcessSpec, Supervisor, next_backoff


def test_backoff_doubles_and_resets_after_a_stable_run() -> None:
    assert next_backoff(1.0, ran_for=0.1) == 2.0
    assert next_backoff(20.0, ran_for=0.1) == MAX_BACKOFF_SECONDS
    assert next_backoff(20.0, ran_for=60.0) == 1.0


async def test_restarts_a_dying_process_and_stops_the_rest(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    dying = ProcessSpec("dying", [sys.executable, "-c",
                                  f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(3)"])
    steady = ProcessSpec("steady", [sys.executable, "-c", "import time; time.sleep(600)"])
    supervisor = Supervisor([dying, steady])
    run = asyncio.create_task(supervisor.run())
    for _ in range(100):
        await asyncio.sleep(0.1)
        if marker.exists() and len(marker.read_text()) >= 2:
            break
    assert len(marker.read_text()) >= 2, "the dying process was not restarted"
    assert supervisor.restarts["dying"] >= 1
    supervisor.request_stop()
    assert await asyncio.wait_for(run, timeout=20) == 0
    assert supervisor.restarts["steady"] == 0
