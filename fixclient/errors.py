"""Errors the peer or the connection cause (usage errors are ValueError / SessionStateError)."""

from __future__ import annotations

__all__ = ["FixError", "LogonRejected", "SessionClosed"]


class FixError(Exception):
    """Root of the errors the peer causes (refusals, closed sessions)."""


class LogonRejected(FixError):
    """The acceptor answered our Logon with a Logout (bad password, unknown CompID...)."""


class SessionClosed(FixError, ConnectionError):
    """The session ended (Logout, protocol error, heartbeat timeout, connection lost)."""
