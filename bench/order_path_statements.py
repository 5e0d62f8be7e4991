"""Statements and round trips PostgreSQL serves per order lifecycle, by statement.

    .venv/bin/python bench/order_path_statements.py [--orders 2000] [--sessions 8] [--window 50]

The set-up and flow of ``bench/order_path_cpu.py`` (IOC limit orders of one share, alternately buys and
sells, all filled), run once with PostgreSQL logging every statement (``log_statement = all``, switched on
after the warm-up, off again after the run). Each line of the log counts: an ``execute`` (one execution of
a prepared statement: an ``executemany`` of n rows is n of them) or a ``statement`` (simple protocol:
BEGIN, COMMIT). An ``executemany`` of n rows is one round trip but n executions here, so round trips
are counted from the code (docs/perf/order-path-postgres.md).

Logging costs PostgreSQL CPU: use this for counts, ``bench/order_path_cpu.py`` for CPU. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import order_path_cpu as cpu

_LINE = re.compile(r"LOG:\s+(?:execute [^:]+|statement): (.*)")


class _Watched(cpu.LocalServices):  # type: ignore[misc, name-defined]
    """The bench's services, remembered so the run can switch statement logging on and off."""

    current: _Watched | None = None

    def start(self) -> None:
        super().start()
        _Watched.current = self


def _set_logging(on: bool) -> None:
    services = _Watched.current
    assert services is not None and services.postgres is not None
    value = "'all'" if on else "'none'"
    result = services.postgres._psql(f"ALTER SYSTEM SET log_statement = {value};\nSELECT pg_reload_conf();\n")
    if result.returncode != 0:
        raise SystemExit(f"cannot switch statement logging: {result.stderr}")


def _count(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        match = _LINE.search(line)
        if match:
            counts[" ".join(match.group(1).split())[:110]] += 1
    return counts


async def main(args: argparse.Namespace) -> None:
    drive, settle = cpu.drive, cpu.settle
    state: dict[str, int] = {}

    async def drive_logged(sessions: list[object], orders: int, window: int) -> None:
        if orders == args.orders:
            _set_logging(True)
            await asyncio.sleep(1.5)
            state["start"] = _logfile().stat().st_size
            state["measured"] = 1
        await drive(sessions, orders, window)  # type: ignore[arg-type]

    async def settle_logged(sessions: list[object], seconds: float = 300) -> None:
        await settle(sessions, seconds)  # type: ignore[arg-type]
        if state.pop("measured", 0):
            await asyncio.sleep(1)
            state["end"] = _logfile().stat().st_size
            _set_logging(False)
            filled = sum(s.filled for s in sessions)  # type: ignore[attr-defined]
            with _logfile().open("rb") as log:
                log.seek(state["start"])
                counts = _count(log.read(state["end"] - state["start"]).decode(errors="replace"))
            total = sum(counts.values())
            print(f"{filled} lifecycles; {total} statements executed: {total / max(filled, 1):.2f} per lifecycle")
            for text, n in counts.most_common(40):
                print(f"  {n / max(filled, 1):6.3f}  {n:7d}  {text}")

    def _logfile() -> Path:
        services = _Watched.current
        assert services is not None and services.postgres is not None
        return Path(services.postgres.logfile)

    cpu.drive, cpu.settle = drive_logged, settle_logged  # type: ignore[assignment]
    cpu.LocalServices = _Watched  # type: ignore[attr-defined]
    await cpu.main(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--window", type=int, default=50)
    parsed = parser.parse_args()
    for name, value in (("runs", 1), ("idle_seconds", 0.5), ("py_spy", ""), ("perf", ""), ("yappi", ""),
                        ("yappi_process", "gateway"), ("env", []), ("keep", False)):
        setattr(parsed, name, value)
    asyncio.run(main(parsed))
