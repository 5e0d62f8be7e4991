"""Keep a Python thread state on each QuickFIX engine thread (ADR 046).

The engine threads are not Python threads. Every callback into Python (a SWIG director: ``fromApp``,
``fromAdmin``, ``toAdmin``, ``onLogon`` ...) enters with ``PyGILState_Ensure`` and leaves with
``PyGILState_Release``; on a thread without a state of its own, Ensure *creates* a ``PyThreadState`` and
Release, its counter back at zero, *destroys* it. In CPython 3.11 that is, per callback: the state's
allocation, a ``gettid``, a 16 KiB ``mmap`` for its frame stack (page-faulted on first use) and its
``munmap`` (a TLB shoot-down on every core the process ran on), plus whatever the interpreter builds per
thread state -- measured with ``strace -c``: one ``gettid``/``mmap``/``munmap`` triple per inbound message.

:func:`hold_thread_state` takes one extra ``PyGILState_Ensure`` on the calling thread and never releases it,
so the counter stays above zero: the director's Release then only releases the GIL, and the next callback
on that thread finds the state and just takes the GIL back. Nothing else changes: the GIL is still released
at the end of every callback exactly as before. One state per engine thread stays allocated until the
interpreter exits (an engine that is stopped and started again gets new threads: one more each; a few KiB).
"""

from __future__ import annotations

import ctypes
import threading

_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.argtypes = ()
_ensure.restype = ctypes.c_int

_local = threading.local()  # lives in the thread state: a new state (a new or unheld thread) starts without it


def hold_thread_state() -> None:
    """Called at the top of a QuickFIX callback: the first time on a thread that Python did not start, keep
    the thread state the callback runs in for the thread's lifetime. One attribute read afterwards."""
    if getattr(_local, "held", False):
        return
    # A thread Python started (the loop's thread calling Session.send, a test's thread) keeps its state anyway.
    # An engine thread is absent from threading._active, or there as a _DummyThread if something called
    # current_thread() on it.
    started = threading._active.get(threading.get_ident())  # type: ignore[attr-defined]
    if started is None or isinstance(started, threading._DummyThread):
        _ensure()  # returns PyGILState_LOCKED (the GIL is ours); its Release never comes, on purpose
    _local.held = True
