"""Run a Python module under yappi's CPU clock, every thread, toggled by SIGUSR2 (benchmarks only).

    python bench/cpu_profiled.py OUT_PREFIX -m brokerage.commands.gateway [args...]

The first SIGUSR2 starts profiling, the second stops it and writes ``OUT_PREFIX.txt`` (functions by
own CPU time and total CPU time) and ``OUT_PREFIX.pstat`` (pstats format). A sampling profiler (py-spy)
counts wall time of running threads: on a loaded machine a thread preempted inside a syscall looks
busy; yappi's CPU clock counts only CPU the thread actually used.
"""

from __future__ import annotations

import io
import runpy
import signal
import sys
import threading

import yappi  # type: ignore[import-not-found,unused-ignore]


def main() -> None:
    prefix = sys.argv[1]
    assert sys.argv[2] == "-m", "usage: cpu_profiled.py OUT_PREFIX -m module [args...]"
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    sys.path[0] = ""  # as ``python -m``: the working directory, not bench/ (bench/audit.py would shadow audit)
    state = {"on": False}

    def dump() -> None:
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.save(f"{prefix}.pstat", type="pstat")
        out = io.StringIO()
        total = sum(s.tsub for s in stats)
        out.write(f"total own CPU {total:.3f} s\n\nby own time:\n")
        for s in sorted(stats, key=lambda s: -s.tsub)[:60]:
            out.write(f"{100 * s.tsub / total:6.2f}%  {s.tsub:8.3f}s  {s.ncall:9d}  {s.name} ({s.module}:{s.lineno})\n")
        out.write("\nby total time:\n")
        for s in sorted(stats, key=lambda s: -s.ttot)[:120]:
            out.write(f"{100 * s.ttot / total:6.2f}%  {s.ttot:8.3f}s  {s.ncall:9d}  {s.name} ({s.module}:{s.lineno})\n")
        out.write("\nthreads:\n")
        for t in yappi.get_thread_stats():
            out.write(f"  {t.name} {t.id} {t.ttot:.3f}s\n")
        with open(f"{prefix}.txt", "w") as f:
            f.write(out.getvalue())

    def toggle(signum: int, frame: object) -> None:
        if not state["on"]:
            yappi.clear_stats()
            yappi.set_clock_type("cpu")
            yappi.start(builtins=True, profile_threads=True)
            state["on"] = True
        else:
            state["on"] = False
            threading.Thread(target=dump).start()

    signal.signal(signal.SIGUSR2, toggle)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
