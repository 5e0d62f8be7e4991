"""Where the front door learns a session's credentials: the credential source port.

    PostgresCredentials(pool, our_comp_id)     production: re-reads the fix_sessions row per Logon, so
                                               a password change or a disabled session applies at the
                                               next Logon; passwords (554) required
    StaticCredentials(sessions, profile="conformance")
                                               the conformance profile only: sessions from its config,
                                               no password (the acceptance suite sends none)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

import asyncpg

from gateway.fix.sessions import ClientSession, load_client_session


class CredentialSource(Protocol):
    require_password: bool

    async def session(self, sender_comp_id: str, target_comp_id: str) -> ClientSession | None:
        """The provisioned session for a Logon from ``sender_comp_id`` to ``target_comp_id``."""
        ...


class PostgresCredentials:
    require_password = True

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def session(self, sender_comp_id: str, target_comp_id: str) -> ClientSession | None:
        return await load_client_session(self.pool, sender_comp_id, target_comp_id)


class StaticCredentials:
    """Sessions fixed at start-up. Only the conformance profile may use it without passwords: the
    profile name must be given explicitly, so production wiring cannot pick it up by accident."""

    def __init__(self, sessions: Iterable[ClientSession], *, profile: Literal["conformance"]) -> None:
        if profile != "conformance":
            raise ValueError("static, password-less credentials are for the conformance profile only")
        self.require_password = False
        self._sessions = {(s.sender_comp_id, s.target_comp_id): s for s in sessions}

    async def session(self, sender_comp_id: str, target_comp_id: str) -> ClientSession | None:
        return self._sessions.get((sender_comp_id, target_comp_id))
