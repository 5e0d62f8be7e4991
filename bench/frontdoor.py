"""CPU the FIX front door's relay spends per message, measured from /proc of the front-door process.

Starts the front door (gateway.frontdoor, production code: framing, caps, backpressure) in a child
process in front of an echo backend, logs on once, then sends FIX messages (a 35=D NewOrderSingle
of ~150 bytes) and reads each echo back:

* ping-pong: one message in flight (the worst case: one read and one write per message and direction);
* pipelined: --window messages in flight (several messages per read), 10x --messages.

CPU per relayed message = (utime + stime of the child, from /proc/<pid>/stat) / messages relayed,
counting both directions (client->engine and engine->client). Median of --runs runs; budget 50 us.

    .venv/bin/python bench/frontdoor.py [--messages 20000] [--window 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from brokerage.services import free_port, wait_until_listening  # noqa: E402
from gateway.frontdoor.framing import encode  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


class _AnySession:
    """A credential source for the bench only: every Logon toward BROKER passes, no password."""

    require_password = False

    async def session(self, sender_comp_id: str, target_comp_id: str) -> object:
        from gateway.fix.sessions import ClientSession
        return ClientSession(sender_comp_id, target_comp_id, "FIX.4.4", None, "", True)


async def serve_front_door(port: int, backend_port: int) -> None:
    from gateway.frontdoor.router import single_shard
    from gateway.frontdoor.server import FrontDoor, FrontDoorConfig

    door = FrontDoor(FrontDoorConfig("BROKER", backoff=False), _AnySession(),  # type: ignore[arg-type]
                     single_shard("127.0.0.1", backend_port))
    await door.listen("127.0.0.1", port)
    await asyncio.Event().wait()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    writer.close()


ORDER = encode("FIX.4.4", "D", [(49, "BENCH"), (56, "BROKER"), (34, "2"), (52, "20260101-00:00:00.000"),
                                (11, "ORD-000000001"), (1, "ACC-1"), (21, "1"), (38, "100"), (40, "2"),
                                (44, "123.45"), (54, "1"), (55, "AAPL"), (59, "0"),
                                (60, "20260101-00:00:00.000")])
LOGON = encode("FIX.4.4", "A", [(49, "BENCH"), (56, "BROKER"), (34, "1"), (52, "20260101-00:00:00.000"),
                                (98, "0"), (108, "30")])


async def one_run(port: int, pid: int, messages: int, window: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(LOGON)
    await reader.readexactly(len(LOGON))  # relayed to the echo backend and back
    before = cpu_seconds(pid)
    if window <= 1:
        for _ in range(messages):
            writer.write(ORDER)
            await reader.readexactly(len(ORDER))
    else:
        sent = 0
        while sent < messages:
            batch = min(window, messages - sent)
            writer.write(ORDER * batch)
            await writer.drain()
            await reader.readexactly(len(ORDER) * batch)
            sent += batch
    cpu = cpu_seconds(pid) - before
    writer.close()
    return cpu / (2 * messages)  # both directions relayed


def start_child(port: int, backend_port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(backend_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


async def main(args: argparse.Namespace) -> None:
    backend = await asyncio.start_server(echo, "127.0.0.1", 0)
    backend_port = backend.sockets[0].getsockname()[1]
    port = free_port()
    child = start_child(port, backend_port)
    try:
        await asyncio.to_thread(wait_until_listening, port, child, "front door", timeout=30)
        print(f"FIX front door relay CPU per message (child pid {child.pid}, {args.messages} messages "
              f"of {len(ORDER)} bytes each way, median of {args.runs} runs; budget 50 us)")
        for name, window, count in (("ping-pong", 1, args.messages),
                                    (f"pipelined x{args.window}", args.window, 10 * args.messages)):
            runs = [await one_run(port, child.pid, count, window) for _ in range(args.runs)]
            figures = ", ".join(f"{r * 1e6:.1f}" for r in runs)
            print(f"  {name:<16} {statistics.median(runs) * 1e6:6.1f} us/message  (runs: {figures})")
    finally:
        child.terminate()
        child.wait(timeout=10)
        backend.close()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_front_door(int(sys.argv[2]), int(sys.argv[3])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    started = time.monotonic()
    asyncio.run(main(parser.parse_args()))
    print(f"  ({time.monotonic() - started:.0f} s)")
