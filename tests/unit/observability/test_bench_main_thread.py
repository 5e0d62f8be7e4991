"""The order-path bench reads a process's main thread from /proc (the gateway's event loop, its serial limit)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

from bench.proc_cpu import main_thread, thread_cpu, tree_switches


def test_the_main_thread_alone_is_counted_and_a_gone_process_reads_none() -> None:
    before = main_thread(os.getpid())
    assert before is not None

    def burn_elsewhere() -> None:  # another thread's CPU is not the main thread's
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass

    worker = threading.Thread(target=burn_elsewhere)
    worker.start()
    worker.join()
    middle = main_thread(os.getpid())
    assert middle is not None and (middle - before).cpu < 0.2
    end = time.thread_time() + 0.3
    while time.thread_time() < end:  # now on the main thread
        pass
    after = main_thread(os.getpid())
    assert after is not None and (after - middle).cpu >= 0.2
    assert (after - before).voluntary >= 1  # it slept in join()

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert main_thread(child.pid) is None


def test_a_thread_is_counted_under_its_name_even_with_spaces_and_parentheses_in_it() -> None:
    # A process or thread may name itself anything up to 15 bytes; the fields are read after the last ")".
    name = "a (b) c"
    burnt = threading.Event()

    def burn_named() -> None:
        threading.current_thread().name = name
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME: what /proc shows
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        burnt.set()
        time.sleep(1)  # still there when it is read

    worker = threading.Thread(target=burn_named, daemon=True)
    worker.start()
    assert burnt.wait(10)
    user, system = thread_cpu(os.getpid())[name]
    assert user + system >= 0.2
    worker.join()


def test_context_switches_are_counted_over_a_process_and_its_children_and_a_lone_group_skips_them() -> None:
    # a child that sleeps 50 times switches at least 50 times; counted under its parent, not under a lone group
    child = subprocess.Popen([sys.executable, "-c", "import time\nfor _ in range(50): time.sleep(0.002)\n"
                              "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while tree_switches({"tree": [os.getpid()]}, alone=frozenset())["tree"] - \
                tree_switches({"me": [os.getpid()]}, alone=frozenset({"me"}))["me"] < 50:
            assert time.monotonic() < deadline, "the child's switches were never counted"
            time.sleep(0.05)
        counts = tree_switches({"me": [os.getpid()], "child": [child.pid]})
        alone = tree_switches({"me": [os.getpid()]}, alone=frozenset({"me"}))
        assert counts["child"] >= 50
        assert counts["me"] <= alone["me"] + 5  # the child is its own group's, not counted twice under its parent
    finally:
        child.kill()
        child.wait()
    assert tree_switches({"gone": [child.pid]}) == {"gone": 0}
