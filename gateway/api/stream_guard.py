"""Who may open ``/v1/stream``: Origin allow-list, bearer token, and a per-token connection cap.

Checked in that order before the WebSocket is accepted, so a refused client never receives a frame:

1. **Origin** (cross-site WebSocket hijacking): a browser always sends ``Origin``; it must be one of
   ``api_ws_allowed_origins`` (exact ``scheme://host[:port]``). A request without ``Origin`` is not from a
   browser page and is allowed. "Same origin as the Host header" is deliberately NOT accepted: with DNS
   rebinding an attacker's page has the attacker's name in both.
2. **Token** (any role), unless ``api_public_market_data``: ``Authorization: Bearer <token>`` (non-browser
   clients) or ``?access_token=<token>`` (RFC 6750 §2.3; browsers cannot set headers on a WebSocket).
3. **Cap**: at most ``api_ws_max_connections_per_token`` open streams per token in this API process (per
   client address when the stream is public).

An open stream whose token is revoked or expires is closed (1008) within ``api_ws_token_recheck_seconds``.

A refusal is an HTTP answer to the handshake (401, 403 or 429, ``application/problem+json``) when the server
supports the WebSocket denial-response extension (uvicorn does), else a close with 1008 before accepting.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from fastapi import WebSocket

from brokerage.settings import Settings
from gateway.api.auth import authenticate
from gateway.api.problems import Problem, problem_response

POLICY_VIOLATION = 1008


def _origin(value: str) -> str:
    return value.strip().rstrip("/").lower()


@dataclass
class StreamGuard:
    settings: Settings
    open_streams: Counter[str] = field(default_factory=Counter)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(_origin(o) for o in self.settings.api_ws_allowed_origins)

    def _bearer(self, websocket: WebSocket) -> str | None:
        scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return websocket.query_params.get("access_token") or None

    async def admit(self, websocket: WebSocket, pool: asyncpg.Pool | None) -> Admission:
        """The admission (release it with :meth:`release`); raises Problem."""
        origin = websocket.headers.get("origin")
        if origin is not None and _origin(origin) not in self.allowed_origins:
            raise Problem(403, "origin-not-allowed", "Origin not allowed",
                          "This Origin may not open the stream (BROKERAGE_API_WS_ALLOWED_ORIGINS).")
        token = None
        if self.settings.api_public_market_data:
            key = "addr:" + (websocket.client.host if websocket.client else "?")
        else:
            if pool is None:
                raise Problem(503, "not-ready", "Not ready", "The API has no database pool yet.")
            token = self._bearer(websocket)
            key = "token:" + (await authenticate(pool, token)).token_id
        cap = self.settings.api_ws_max_connections_per_token
        if self.open_streams[key] >= cap:
            raise Problem(429, "too-many-streams", "Too many streams",
                          f"At most {cap} open streams per token.", limit=cap)
        self.open_streams[key] += 1  # no await since the check: the count cannot be overtaken
        return Admission(key, token)

    def release(self, admission: Admission) -> None:
        self.open_streams[admission.key] -= 1
        if self.open_streams[admission.key] <= 0:
            del self.open_streams[admission.key]

    async def until_token_dies(self, admission: Admission, pool: asyncpg.Pool) -> None:
        """Returns once the stream's token is revoked or expires (checked every api_ws_token_recheck_seconds);
        never for a public stream."""
        if admission.token is None:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(self.settings.api_ws_token_recheck_seconds)
            try:
                await authenticate(pool, admission.token)
            except Problem:
                return
            except (OSError, asyncpg.PostgresError):
                continue  # the database being briefly away does not end live streams


@dataclass(frozen=True, slots=True)
class Admission:
    key: str  # what the cap counts: the token id, or the client address for a public stream
    token: str | None  # re-checked while the stream is open (None: public stream)


async def refuse(websocket: WebSocket, problem: Problem) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(problem_response(problem, websocket.url.path))
    else:
        await websocket.close(POLICY_VIOLATION, problem.title)
