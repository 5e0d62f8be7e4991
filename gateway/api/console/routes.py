"""``/console`` (the page and its static files) and ``GET /v1/console/snapshot`` (what the page shows).

The snapshot is one request per refresh (the page polls it every ~500 ms) instead of one per account and table:
accounts valued at live quotes with their positions, the newest orders and fills across accounts, quotes of a
watch list, FIX sessions, open margin calls, kill switches and halts. Admin, operator and compliance tokens may
read it (compliance sees no buttons); account tokens are refused (403).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from redis.asyncio import Redis

from gateway.api import queries
from gateway.api.deps import AppSettings, DbPool, Principal, RedisClient
from gateway.api.portfolio import account_model, margin_policy, position_model, valued_positions
from gateway.api.problems import forbidden
from gateway.api.routes.controls import OPERATING_ROLES, ControlsState, controls_state
from gateway.api.schemas import Account, Fill, Order, Position
from marketdata.redis_quotes import QuoteReader
from refdata.instruments import universe_by_symbol

STATIC = Path(__file__).parent / "static"
# Scripts, styles and fetches from this origin only; no inline script or style, no plug-ins, no framing, no
# form posting anywhere (the login form is handled by the script).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_FILES = {"console.js": "text/javascript", "console.css": "text/css", "favicon.svg": "image/svg+xml"}
RECENT_ROWS = 50
OUTBOX_WINDOW = 20_000  # rejections are looked for among this many newest outbox rows (bounded work per poll)
MAX_ACCOUNTS = 500
MAX_WATCH = 50
DEFAULT_WATCH = ("AAPL", "MSFT", "F")
SESSION_STATE_FRESH_SECONDS = 15.0  # as provisioning's `sessions list` (ADR 017)

page_router = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/v1/console", tags=["console"])


def _static(name: str, media_type: str, cache: str) -> Response:
    return FileResponse(STATIC / name, media_type=media_type, headers={**SECURITY_HEADERS, "Cache-Control": cache})


@page_router.get("/console")
async def console_page() -> Response:
    return _static("index.html", "text/html; charset=utf-8", "no-store")


@page_router.get("/console/")
async def console_slash() -> Response:
    return RedirectResponse("/console", status_code=308)


@page_router.get("/console/static/{name}")
async def console_file(name: str) -> Response:
    media_type = _FILES.get(name)
    if media_type is None:  # a fixed list: no path from the request ever reaches the file system
        return Response(status_code=404, headers=SECURITY_HEADERS)
    return _static(name, media_type, "no-cache")


class QuoteRow(BaseModel):
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    bid_size: Decimal | None
    ask_size: Decimal | None
    age_seconds: float | None = Field(description="Since the quote was ingested; null without a timestamp.")
    stale: bool


class AccountView(Account):
    positions: list[Position]


class MarginCall(BaseModel):
    call_id: str
    account_id: str
    status: str
    opened_at: datetime
    equity: Decimal | None
    requirement: Decimal | None
    valuation: str
    liquidation_attempts: int


class Rejection(BaseModel):
    """An order refused before it was booked (risk, duplicate, inactive account): not in ``orders``, only in the
    audit outbox as ``order.rejected``."""

    occurred_at: datetime
    account_id: str | None
    actor: str
    cl_ord_id: str
    symbol: str
    side: str
    qty: str | None
    price: str | None
    rule: str
    reason: str


class Snapshot(BaseModel):
    as_of: datetime
    role: str
    can_act: bool = Field(description="The token may use the control buttons (operator or admin).")
    controls: ControlsState
    accounts: list[AccountView]
    orders: list[Order] = Field(description=f"The {RECENT_ROWS} newest orders across accounts.")
    fills: list[Fill] = Field(description=f"The {RECENT_ROWS} newest fills across accounts.")
    rejections: list[Rejection] = Field(description="Orders refused before booking, newest first (among the "
                                                    f"last {OUTBOX_WINDOW} audit events not yet pruned).")
    quotes: list[QuoteRow]
    sessions: list[dict[str, Any]] = Field(
        description="FIX sessions: every column of fix_sessions but the password hash, plus their accounts.")
    margin_calls: list[MarginCall]


WatchParam = Annotated[str | None, Query(max_length=600, description="Comma-separated symbols to quote.")]


@lru_cache(maxsize=1)
def _listed() -> frozenset[str]:
    return frozenset(universe_by_symbol())


def _watch_list(requested: str | None, held: set[str]) -> list[str]:
    listed = _listed()
    wanted = [s.strip().upper() for s in requested.split(",")] if requested is not None else list(DEFAULT_WATCH)
    symbols = [s for s in dict.fromkeys(wanted) if s in listed][:MAX_WATCH]
    return symbols + sorted(held - set(symbols))


async def _quotes(redis: Redis, symbols: list[str], stale_after: float) -> list[QuoteRow]:
    quotes = await QuoteReader(redis).get_many(symbols)
    rows = []
    for symbol in symbols:
        q = quotes.get(symbol)
        age = q.age_seconds() if q is not None and q.ingest_ts_us else None
        rows.append(QuoteRow(
            symbol=symbol, bid=q.bid if q else None, ask=q.ask if q else None, last=q.last if q else None,
            bid_size=q.bid_size if q else None, ask_size=q.ask_size if q else None,
            age_seconds=round(age, 3) if age is not None else None, stale=age is None or age > stale_after))
    return rows


# Newest rows across accounts through the per-account (account_id, created_at) indexes: no scan of the table.
_RECENT_ORDERS = f"""
    SELECT o.* FROM accounts a CROSS JOIN LATERAL (
        SELECT * FROM orders WHERE account_id = a.account_id ORDER BY created_at DESC, order_id DESC LIMIT {RECENT_ROWS}
    ) o ORDER BY o.created_at DESC, o.order_id DESC LIMIT {RECENT_ROWS}
"""
_RECENT_FILLS = f"""
    SELECT e.* FROM accounts a CROSS JOIN LATERAL (
        SELECT exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, side, last_qty, last_px,
               cum_qty, leaves_qty, avg_px, transact_time, created_at
        FROM executions WHERE account_id = a.account_id AND last_qty > 0
        ORDER BY created_at DESC, exec_id DESC LIMIT {RECENT_ROWS}
    ) e ORDER BY e.created_at DESC, e.exec_id DESC LIMIT {RECENT_ROWS}
"""


_RECENT_REJECTIONS = f"""
    SELECT occurred_at, account_id, payload FROM outbox
    WHERE seq > (SELECT coalesce(max(seq), 0) FROM outbox) - {OUTBOX_WINDOW} AND event_type = 'order.rejected'
    ORDER BY seq DESC LIMIT {RECENT_ROWS}
"""


def _rejection(row: asyncpg.Record) -> Rejection:
    payload = row["payload"]
    p: dict[str, Any] = json.loads(payload) if isinstance(payload, str) else dict(payload)

    def text(key: str) -> str:
        return str(p.get(key) or "")

    return Rejection(occurred_at=row["occurred_at"], account_id=row["account_id"], actor=text("actor"),
                     cl_ord_id=text("cl_ord_id"), symbol=text("symbol"), side=text("side"),
                     qty=p.get("qty"), price=p.get("price"), rule=text("rule"), reason=text("reason"))


async def _live_state(pool: asyncpg.Pool) -> dict[str, dict[str, Any]]:
    """What gateways publish about the sessions they serve (``fix_session_state``, provisioning's table, when the
    schema has it): logged on, sequence numbers, last message. A row not refreshed for ``SESSION_STATE_FRESH_SECONDS``
    says nothing about logged on (null: unknown)."""
    if not await pool.fetchval("SELECT to_regclass('fix_session_state') IS NOT NULL"):
        return {}
    rows = await pool.fetch(
        "SELECT sender_comp_id, logged_on AND updated_at > now() - make_interval(secs => $1) AS logged_on_fresh, "
        "updated_at > now() - make_interval(secs => $1) AS fresh, next_sender_seq, next_target_seq, last_message_at "
        "FROM fix_session_state", SESSION_STATE_FRESH_SECONDS)
    return {r["sender_comp_id"]: {
        "logged_on": r["logged_on_fresh"] if r["fresh"] else None, "next_sender_seq": r["next_sender_seq"],
        "next_target_seq": r["next_target_seq"], "last_message_at": r["last_message_at"]} for r in rows}


async def _sessions(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM fix_sessions ORDER BY sender_comp_id")
    links = await pool.fetch("SELECT sender_comp_id, account_id FROM fix_session_accounts ORDER BY account_id")
    live = await _live_state(pool)
    accounts: dict[str, list[str]] = {}
    for link in links:
        accounts.setdefault(link["sender_comp_id"], []).append(link["account_id"])
    out = []
    for row in rows:
        session = {k: v for k, v in dict(row).items() if "password" not in k and "secret" not in k}
        session["accounts"] = accounts.get(row["sender_comp_id"], [])
        session.update(live.get(row["sender_comp_id"], {}))
        out.append(session)
    return out


@router.get("/snapshot", response_model=Snapshot, summary="Everything the operator console shows, in one read")
async def snapshot(
    principal: Principal, pool: DbPool, redis: RedisClient, settings: AppSettings, watch: WatchParam = None,
) -> Snapshot:
    if not principal.sees_all_accounts:
        raise forbidden("The console needs an admin, operator or compliance token.")
    rows = await queries.accounts_page(pool, None, None, MAX_ACCOUNTS)
    rows = rows[:MAX_ACCOUNTS]
    holdings = await queries.holdings(pool, [r["account_id"] for r in rows])
    positions = await valued_positions(redis, holdings)
    policy, now = margin_policy(settings), datetime.now(UTC)
    accounts = [
        AccountView(
            **account_model(r, positions[r["account_id"]], policy).model_dump(),
            positions=[position_model(r["account_id"], p, settings.quote_stale_seconds, now)
                       for p in positions[r["account_id"]]],
        )
        for r in rows
    ]
    held = {h.symbol for hs in holdings.values() for h in hs}
    calls = await pool.fetch(
        "SELECT call_id, account_id, status, opened_at, equity, requirement, valuation, liquidation_attempts "
        "FROM margin_calls WHERE status <> 'met' ORDER BY opened_at")
    return Snapshot(
        as_of=now, role=principal.role, can_act=principal.role in OPERATING_ROLES,
        controls=await controls_state(pool),
        accounts=accounts,
        orders=[Order.model_validate(dict(r)) for r in await pool.fetch(_RECENT_ORDERS)],
        fills=[Fill.model_validate(dict(r)) for r in await pool.fetch(_RECENT_FILLS)],
        rejections=[_rejection(r) for r in await pool.fetch(_RECENT_REJECTIONS)],
        quotes=await _quotes(redis, _watch_list(watch, held), settings.quote_stale_seconds),
        sessions=await _sessions(pool),
        margin_calls=[MarginCall.model_validate(dict(r)) for r in calls],
    )
