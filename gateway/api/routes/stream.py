"""WebSocket /v1/stream: subscribe to symbols and receive their quote updates, or their market depth.

Client → server: ``{"action": "subscribe", "symbols": ["AAPL", "MSFT"]}`` or ``"unsubscribe"``;
``{"action": "subscribe", "symbols": ["AAPL"], "depth": 5}`` follows the symbols' books instead (depth 0 =
the full book, 10 levels; 1..10 that many levels a side); subscribing again without ``depth`` goes back to
quotes, with another depth changes it. A symbol is followed one way at a time; both count against the cap.
Server → client (JSON text frames):
  ``{"type": "subscribed", "symbols": [added...], "subscriptions": [all...]}`` (with ``"depth": N`` for books),
  ``{"type": "unsubscribed", ...}``,
  ``{"type": "quote", "quote": {symbol, bid, ask, bid_size, ask_size, last, last_size, volume,
  prev_close, exchange_ts_us, ingest_ts_us}}`` (decimals as strings; the current quote is sent at
  once on subscribing, then every change),
  ``{"type": "book", "depth": N, "book": {symbol, bids: [[price, size]...], asks: [[price, size]...], last,
  last_size, volume, prev_close, exchange_ts_us, ingest_ts_us}}`` (best level first, at most N a side; the
  whole book at once on subscribing, then the whole book again at every change: conflated, never a diff),
  ``{"type": "error", "code": "unknown_symbols" | "too_many_symbols" | "bad_request", "message", "symbols"?}``.

A slow client gets conflated updates (the latest quote per symbol); one whose socket does not take a
frame within the send timeout is closed with code 1008.

Under ``create_app`` the handshake is first checked by ``gateway.api.stream_guard`` (Origin allow-list, a token
of any role unless market data is public, a per-token cap) and an open stream ends once its token is revoked.

The hub is created on first use and kept on ``app.state.stream_hub`` (it reuses ``app.state.redis``
when present); ``close_stream_hub(app)`` stops it at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from redis.asyncio import Redis
from starlette.websockets import WebSocketState

from brokerage.settings import Settings, get_settings
from gateway.api.problems import Problem
from gateway.api.stream_guard import StreamGuard, refuse
from marketdata.stream_hub import StreamClient, StreamHub, error_message
from refdata.instruments import universe_by_symbol

router = APIRouter(tags=["market data"])
TOO_SLOW = 1008
SEND_TIMEOUT_SECONDS = 10.0


def stream_hub(app: FastAPI) -> StreamHub:
    hub: StreamHub | None = getattr(app.state, "stream_hub", None)
    if hub is None:
        settings: Settings = getattr(app.state, "settings", None) or get_settings()
        redis = getattr(app.state, "redis", None) or Redis.from_url(settings.effective_redis_url)
        listed = frozenset(universe_by_symbol())
        hub = StreamHub(redis, listed.__contains__, settings.ws_max_symbols, SEND_TIMEOUT_SECONDS)
        app.state.stream_hub = hub
    return hub


async def close_stream_hub(app: FastAPI) -> None:
    hub: StreamHub | None = getattr(app.state, "stream_hub", None)
    if hub is not None:
        await hub.close()


async def _send(websocket: WebSocket, text: str, limit_seconds: float) -> None:
    async with asyncio.timeout(limit_seconds):
        await websocket.send_text(text)


async def _sender(websocket: WebSocket, client: StreamClient, limit_seconds: float) -> None:
    """Drain the client's replies and conflated quotes; give up on a socket that stops taking frames
    (returning ends the connection: see ``stream``)."""
    try:
        while True:
            await client.wakeup.wait()
            client.wakeup.clear()
            if client.overflowed:
                await _close(websocket, "too many unread replies")
                return
            while client.control:
                await _send(websocket, json.dumps(client.control.popleft()), limit_seconds)
            for _symbol, payload in client.outbox.take():
                await _send(websocket, '{"type":"quote","quote":' + payload + "}", limit_seconds)
            for _symbol, frame in client.books.take():
                await _send(websocket, frame, limit_seconds)
    except TimeoutError:
        await _close(websocket, "consumer too slow")
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client went away while we were sending


async def _close(websocket: WebSocket, reason: str) -> None:
    # The close frame may itself be stuck behind the unread data: bounded wait, then let go.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await websocket.close(TOO_SLOW, reason)


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    # create_app installs the guard (Origin, token, per-token cap); a bare router mounted elsewhere has none
    guard: StreamGuard | None = getattr(websocket.app.state, "stream_guard", None)
    if guard is None:
        await _serve(websocket)
        return
    pool = getattr(websocket.app.state, "db_pool", None)
    try:
        admission = await guard.admit(websocket, pool)
    except Problem as problem:
        await refuse(websocket, problem)
        return
    serving = asyncio.create_task(_serve(websocket))
    watching = asyncio.create_task(guard.until_token_dies(admission, pool)) if pool is not None else None
    try:
        await asyncio.wait({serving, *([watching] if watching else [])}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():  # the token was revoked or expired: end the stream
            await _close(websocket, "token revoked or expired")
            serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    finally:
        guard.release(admission)
        for task in (serving, watching):
            if task is not None and not task.done():
                task.cancel()


async def _serve(websocket: WebSocket) -> None:
    hub = stream_hub(websocket.app)
    await websocket.accept()
    client = hub.connect()
    sender = asyncio.create_task(_sender(websocket, client, hub.send_timeout))
    try:
        while True:
            receiving = asyncio.ensure_future(websocket.receive())
            await asyncio.wait({receiving, sender}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():  # the sender gave up on this client
                receiving.cancel()
                break
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                client.reply(error_message("bad_request", "send JSON text frames, not binary"))
                continue
            await hub.handle(client, text)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.disconnect(client)  # its subscriptions and pending quotes are freed here
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        if websocket.application_state == WebSocketState.CONNECTED:
            await _close(websocket, "closing")
