"""A small process supervisor for local runs: start every process of the system, restart one that dies
(with exponential backoff), stop all of them cleanly on Ctrl-C / SIGTERM.

Production deployments use their own supervisor (systemd, Kubernetes, docker compose); this one exists
so that one command runs the whole system on a developer's machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from brokerage.logs import get_logger

log = get_logger("brokerage.supervisor")

STABLE_AFTER_SECONDS = 30.0  # a process that ran this long resets its backoff
MAX_BACKOFF_SECONDS = 30.0
STOP_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)


def next_backoff(previous: float, ran_for: float) -> float:
    """Seconds to wait before restarting a process that just exited after `ran_for` seconds."""
    if ran_for >= STABLE_AFTER_SECONDS:
        return 1.0
    return min(MAX_BACKOFF_SECONDS, max(1.0, previous * 2))


class Supervisor:
    def __init__(self, specs: Sequence[ProcessSpec]) -> None:
        self._specs = list(specs)
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()
        self.restarts: dict[str, int] = {s.name: 0 for s in specs}

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        watchers = [asyncio.create_task(self._watch(spec), name=f"watch-{spec.name}") for spec in self._specs]
        await self._stopping.wait()
        log.info("stopping", processes=[s.name for s in self._specs])
        await self._stop_all()
        for w in watchers:
            w.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        return 0

    async def _spawn(self, spec: ProcessSpec) -> asyncio.subprocess.Process:
        env = {**os.environ, **spec.env}
        # Children get their own process group so a terminal Ctrl-C reaches only us; we stop them in order.
        proc = await asyncio.create_subprocess_exec(*spec.argv, env=env, start_new_session=True)
        self._children[spec.name] = proc
        log.info("process started", process=spec.name, pid=proc.pid)
        return proc

    async def _watch(self, spec: ProcessSpec) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                proc = await self._spawn(spec)
            except OSError as exc:
                log.error("process could not start", process=spec.name, error=str(exc))
                code: int | None = None
            else:
                code = await proc.wait()
            if self._stopping.is_set():
                return
            ran_for = time.monotonic() - started
            backoff = next_backoff(backoff, ran_for)
            self.restarts[spec.name] += 1
            log.warning("process exited; restarting", process=spec.name, exit_code=code,
                        ran_seconds=round(ran_for, 1), restart_in=backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)

    async def _stop_all(self) -> None:
        running = [(n, p) for n, p in self._children.items() if p.returncode is None]
        for _, proc in reversed(running):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in reversed(running):
            try:
                await asyncio.wait_for(proc.wait(), timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("process did not stop in time; killing", process=name)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


def brokerage_argv(*args: str) -> list[str]:
    """argv that runs a `brokerage` subcommand with the same interpreter as this process."""
    return [sys.executable, "-m", "brokerage.cli", *args]
