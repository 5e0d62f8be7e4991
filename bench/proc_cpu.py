"""CPU time of processes from /proc (Linux), shared by the order-path benches.

A process's figure is its own user + system time (all threads) plus what its reaped children used, and
its live descendants' the same way (PostgreSQL's backends under the postmaster), so nothing is counted
twice and nothing that exited during a run is lost.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TICKS", "MainThread", "main_thread", "process_stats", "thread_cpu", "tree_cpu", "tree_switches"]

TICKS = os.sysconf("SC_CLK_TCK")


def _split_stat(raw: str) -> tuple[str, list[str]]:
    """A ``/proc/.../stat`` line as (name, the fields after it, from state on: ``fields[1]`` is the parent
    pid, ``[11]``/``[12]`` user/system ticks, ``[13]``/``[14]`` the reaped children's)."""
    close = raw.rindex(")")  # the name in parentheses may hold spaces and parentheses
    return raw[raw.index("(") + 1:close], raw[close + 2:].split()


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, CPU seconds of the process (user + system, all threads), CPU seconds of the children
    it has reaped); None if it is gone."""
    try:
        _, fields = _split_stat(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS,
            (int(fields[13]) + int(fields[14])) / TICKS)


def process_stats() -> dict[int, tuple[int, float, float]]:
    """Every live process: pid -> (parent pid, own CPU seconds, reaped children's CPU seconds)."""
    stats: dict[int, tuple[int, float, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            stats[int(entry)] = stat
    return stats


def _groups(roots: Mapping[str, Sequence[int]], alone: frozenset[str], stats: Mapping[int, tuple[int, float, float]],
            ) -> dict[str, list[int]]:
    """Each named group's live pids: its roots and (unless in ``alone``) their descendants, a descendant that is
    another group's root left to that group."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    all_roots = {pid for pids in roots.values() for pid in pids}
    out: dict[str, list[int]] = {}
    for name, pids in roots.items():
        members, todo = [], list(pids)
        while todo:
            pid = todo.pop()
            if pid in stats:
                members.append(pid)
            if name not in alone:
                todo.extend(c for c in children.get(pid, []) if c not in all_roots)
        out[name] = members
    return out


def tree_cpu(roots: Mapping[str, Sequence[int]], alone: frozenset[str] = frozenset()) -> dict[str, float]:
    """CPU seconds so far of each named group of processes with their descendants. A descendant that is
    another group's root counts for that group only; groups in ``alone`` count their own processes only (a
    bench client: its children are the measured processes, and the profilers it starts are not its cost)."""
    stats = process_stats()
    return {name: sum(stats[pid][1] + (0.0 if name in alone else stats[pid][2]) for pid in pids)
            for name, pids in _groups(roots, alone, stats).items()}


def thread_cpu(pid: int) -> dict[str, tuple[float, float]]:
    """Thread name -> (user, system) CPU seconds, summed over the process's threads of that name."""
    out: dict[str, tuple[float, float]] = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError):
                name, fields = _split_stat(Path(f"/proc/{pid}/task/{tid}/stat").read_text())
                user, system = out.get(name, (0.0, 0.0))
                out[name] = (user + int(fields[11]) / TICKS, system + int(fields[12]) / TICKS)
    return out


def _switches(pid: int) -> int:
    """Context switches so far (voluntary + involuntary) of every live thread of ``pid``; 0 if it is gone."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                        total += int(line.split(":", 1)[1])
    return total


def tree_switches(roots: Mapping[str, Sequence[int]], alone: frozenset[str] = frozenset()) -> dict[str, int]:
    """Context switches so far of each named group of live processes with their live descendants (grouped as
    ``tree_cpu`` groups them; a process that exited takes its count with it). Each is a thread going to sleep
    or being preempted, so the count per unit of work is how often the work wakes a thread up."""
    return {name: sum(_switches(pid) for pid in pids)
            for name, pids in _groups(roots, alone, process_stats()).items()}


@dataclass(frozen=True)
class MainThread:
    """Totals so far of a process's main thread (a gateway's event loop: its serial limit)."""

    cpu: float  # seconds on a CPU (user + system)
    waiting: float  # seconds runnable but waiting for a CPU (schedstat), i.e. the machine's other work in its way
    voluntary: int  # context switches it asked for (sleeping in the selector, waiting for the GIL or a lock)
    involuntary: int  # preempted

    def __sub__(self, before: MainThread) -> MainThread:
        return MainThread(self.cpu - before.cpu, self.waiting - before.waiting, self.voluntary - before.voluntary,
                          self.involuntary - before.involuntary)


def main_thread(pid: int) -> MainThread | None:
    """The main thread's totals; None if the process is gone (or schedstat is not there)."""
    task = f"/proc/{pid}/task/{pid}"
    try:
        _, fields = _split_stat(Path(f"{task}/stat").read_text())
        schedstat = Path(f"{task}/schedstat").read_text().split()
        status = dict(line.split(":", 1) for line in Path(f"{task}/status").read_text().splitlines() if ":" in line)
    except OSError:
        return None
    return MainThread((int(fields[11]) + int(fields[12])) / TICKS, int(schedstat[1]) / 1e9,
                      int(status["voluntary_ctxt_switches"]), int(status["nonvoluntary_ctxt_switches"]))
