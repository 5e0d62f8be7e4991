"""What the simulated gateway tells its clients and its venue (plain values), and its policies."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientMsg:
    """An ExecutionReport (kind "8") or OrderCancelReject ("9") to a client session."""

    session_id: str
    kind: str
    order_id: str  # "NONE" when there is no order
    cl_ord_id: str
    exec_id: str | None  # ours; the client's dedupe key
    exec_type: str | None
    ord_status: str
    seq: int | None = None  # executions.seq when the report is stored (re-sent after a crash)


@dataclass(frozen=True, slots=True)
class Policy:
    """How the gateway keeps its inbound marks across a session reset.

    ``marks_per_day``: the mark is tied to the FIX session day (a reset starts a new mark, recovery compares
    like with like). False is the production code as issue 11 found it: ``greatest(...)`` across resets, and
    the in-memory high-water mark carried over the reset.
    ``drain_before_reset``: the gateway applies what it received of the old day before the new day starts
    (otherwise a crash right after the reset loses the old day's tail: nothing can resend it).
    """

    marks_per_day: bool = True
    drain_before_reset: bool = True


class Ids:
    """Deterministic identifiers (production's ``store.new_id`` reads the clock and a per-process counter)."""

    def __init__(self) -> None:
        self.count = 0

    def next(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count:07d}"
