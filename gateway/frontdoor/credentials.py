"""Where the front door learns a session's credentials: the credential source port.

    PostgresCredentials(pool)                  production: re-reads the fix_sessions row per Logon, so
                                               a password change or a disabled session applies at the
                                               next Logon; passwords (554) required; during a database
                                               outage a session seen before is checked against its
                                               last-known row
    StaticCredentials(sessions, profile="conformance")
                                               the conformance profile only: sessions from its config,
                                               no password (the acceptance suite sends none)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Literal, Protocol

import asyncpg
import structlog

from gateway.fix.sessions import ClientSession, load_client_session

log = structlog.get_logger(__name__)


class CredentialSource(Protocol):
    require_password: bool

    async def session(self, sender_comp_id: str, target_comp_id: str) -> ClientSession | None:
        """The provisioned session for a Logon from ``sender_comp_id`` to ``target_comp_id``."""
        ...


class PostgresCredentials:
    """Re-reads the row per Logon. While PostgreSQL cannot be reached, a session that was read before is
    checked against its last-known row (its scrypt hash and enabled flag, kept in memory only), so clients
    can still log on and get clean rejects for their orders during an outage; a CompID never seen is
    refused as temporarily unavailable."""

    require_password = True

    def __init__(self, pool: asyncpg.Pool, outage_timeout: float = 3.0) -> None:
        self.pool = pool
        self.outage_timeout = outage_timeout
        self._last_known: dict[tuple[str, str], ClientSession] = {}

    async def session(self, sender_comp_id: str, target_comp_id: str) -> ClientSession | None:
        key = (sender_comp_id, target_comp_id)
        known_before = key in self._last_known
        try:
            # a database that hangs (a cut link) must not hold a known client until the check times out
            session = await asyncio.wait_for(load_client_session(self.pool, sender_comp_id, target_comp_id),
                                             self.outage_timeout if known_before else None)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            known = self._last_known.get(key)
            if known is None:
                raise
            log.warning("fix.frontdoor_credentials_last_known", session=sender_comp_id, error=str(error))
            return known
        if session is None:
            self._last_known.pop(key, None)
        else:
            self._last_known[key] = session
        return session


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
