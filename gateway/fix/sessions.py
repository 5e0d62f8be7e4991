"""Provisioned client sessions (the ``fix_sessions`` table) and the logon check.

``logon_refusal`` is pure: given the provisioned session and the Username/Password a Logon carried,
it says why the Logon must be refused, or None. ``load_client_sessions`` reads the table (asyncpg).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass

import asyncpg

from fixsession.settings import SessionSpec
from ledger.credentials import verify_password

PASSWORD_REQUIRED = "Password (554) required"
BAD_CREDENTIALS = "Invalid username or password"
DISABLED = "Session disabled"
CLIENT, DROP_COPY = "client", "drop-copy"  # fix_sessions.kind (a drop-copy session is read-only: ADR 027)


@dataclass(frozen=True)
class ClientSession:
    sender_comp_id: str  # the client's CompID (its SenderCompID, our TargetCompID)
    target_comp_id: str  # ours (BROKER)
    begin_string: str
    username: str | None
    password_hash: str
    enabled: bool
    kind: str = CLIENT

    @property
    def key(self) -> str:
        """The QuickFIX session key from our side, e.g. "FIX.4.4:BROKER->CLIENT1"."""
        return f"{self.begin_string}:{self.target_comp_id}->{self.sender_comp_id}"

    def spec(self) -> SessionSpec:
        return SessionSpec(sender_comp_id=self.target_comp_id, target_comp_id=self.sender_comp_id,
                           begin_string=self.begin_string)


def logon_refusal(session: ClientSession, username: str | None, password: str | None) -> str | None:
    """Why a Logon with these credentials is refused, or None if it is accepted.

    A session provisioned with a username requires it to match when the Logon carries one (553 is
    optional); the password (554) is always required."""
    if not session.enabled:
        return DISABLED
    if not password:
        return PASSWORD_REQUIRED
    if session.username and username and username != session.username:
        return BAD_CREDENTIALS
    if not verify_password(password, session.password_hash):
        return BAD_CREDENTIALS
    return None


class CredentialCache:
    """Remembers the last password accepted per session (as a salted SHA-256) so a client that
    reconnects often does not cost a full scrypt on the engine thread each time."""

    def __init__(self) -> None:
        self._accepted: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(session: ClientSession, password: str) -> bytes:
        return hashlib.sha256(f"{session.password_hash}\x00{password}".encode()).digest()

    def check(self, session: ClientSession, username: str | None, password: str | None) -> str | None:
        if session.enabled and password and not (session.username and username and username != session.username):
            with self._lock:
                known = self._accepted.get(session.key)
            if known is not None and hmac.compare_digest(known, self._digest(session, password)):
                return None
        refusal = logon_refusal(session, username, password)
        if refusal is None and password:
            self.remember(session, password)
        return refusal

    def remember(self, session: ClientSession, password: str) -> None:
        """A password already verified (by the front door) against ``session``'s current hash."""
        with self._lock:
            self._accepted[session.key] = self._digest(session, password)


async def load_client_sessions(conn: asyncpg.Connection | asyncpg.Pool, our_comp_id: str) -> list[ClientSession]:
    """Every provisioned session toward ``our_comp_id`` (disabled ones too: their Logon is refused
    with a reason rather than silently dropped)."""
    rows = await conn.fetch(
        "SELECT sender_comp_id, target_comp_id, begin_string, username, password_hash, enabled, kind "
        "FROM fix_sessions WHERE target_comp_id = $1 ORDER BY sender_comp_id",
        our_comp_id,
    )
    return [ClientSession(**dict(row)) for row in rows]


async def load_client_session(conn: asyncpg.Connection | asyncpg.Pool, sender_comp_id: str,
                              our_comp_id: str) -> ClientSession | None:
    """One provisioned session, read afresh (the front door calls it for every Logon)."""
    row = await conn.fetchrow(
        "SELECT sender_comp_id, target_comp_id, begin_string, username, password_hash, enabled, kind "
        "FROM fix_sessions WHERE sender_comp_id = $1 AND target_comp_id = $2",
        sender_comp_id, our_comp_id,
    )
    return ClientSession(**dict(row)) if row is not None else None
