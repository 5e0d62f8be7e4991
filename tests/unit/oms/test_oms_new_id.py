"""``store.new_id``: sortable, unique within a process without a random draw per id, and a forked child's ids
differ from its parent's."""

from __future__ import annotations

import os
import re
import time

from gateway.oms.store import new_id

_FORM = re.compile(r"E[0-9a-f]{12}[0-9a-f]{8}")


def test_ids_have_the_documented_form_and_never_repeat() -> None:
    ids = [new_id("E") for _ in range(50_000)]
    assert all(_FORM.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_sort_by_time() -> None:
    first = new_id("O")
    time.sleep(0.002)
    assert new_id("O")[:13] > first[:13]
    assert abs(int(first[1:13], 16) - time.time_ns() // 1_000_000) < 5_000


def test_a_forked_child_draws_its_own_tails() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next tails
        os.close(read)
        os.write(write, " ".join(new_id("E")[13:] for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_id("E")[13:] for _ in range(3)]
    assert len(child) == 3 and set(child).isdisjoint(parent)
