"""Deposits and withdrawals, each keyed by a required ``Idempotency-Key`` header.

A retry with the same key and the same amount replays the first answer (same body, 201, header
``Idempotent-Replayed: true``) and moves no money twice. Reusing a key with a different amount is
refused with 422 ``idempotency-key-reused``, as the IETF Idempotency-Key draft prescribes
(draft-ietf-httpapi-idempotency-key-header, section 2.7): the request is well formed but cannot be
processed under that key.

The body is parsed with ``parse_float=Decimal`` so a JSON number such as ``12345678901234.57`` is taken
digit for digit, never through a binary float.

A withdrawal from a margin account values its positions at live quotes (Reg T: what may leave depends on
today's equity, never on average cost); a held symbol without a quote younger than
``quote_stale_seconds`` refuses the withdrawal with 409 ``price-unavailable`` naming the symbols.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from gateway.api import queries
from gateway.api.deps import AppSettings, DbPool, Metrics, Principal, RedisClient, VisibleAccountId
from gateway.api.listing import (
    AccountIdPath,
    CursorParam,
    FromParam,
    Limit,
    ToParam,
    decode_cursor,
    invalid_cursor,
    page,
    time_range,
)
from gateway.api.pagination import DEFAULT_LIMIT, InvalidCursor
from gateway.api.problems import Problem, account_not_found, problem_responses
from gateway.api.schemas import CashMovement, CashMovementRecord, CashMovementRequest, Page
from ledger import errors
from ledger.repository import CashMovement as LedgerCashMovement
from ledger.repository import LedgerRepository
from marketdata.quotes import now_us
from marketdata.redis_quotes import QuoteReader

router = APIRouter(prefix="/v1/accounts/{account_id}", tags=["cash"])

MAX_BODY_BYTES = 4096
MAX_KEY_LENGTH = 128  # idempotency_keys.key is VARCHAR(128)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


async def _bounded_body(request: Request) -> bytes:
    """The body, refused as soon as it grows past MAX_BODY_BYTES (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Problem(413, "payload-too-large", "Payload too large",
                          f"The body must be at most {MAX_BODY_BYTES} bytes.", limit=MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


async def _movement_request(request: Request) -> CashMovementRequest:
    raw = await _bounded_body(request)
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"the body is not valid JSON: {exc}", "type": "json_invalid"}]
        ) from exc
    try:
        return CashMovementRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
        ) from exc


def _idempotency_key(
    key: Annotated[str | None, Header(alias="Idempotency-Key", description="Required; at most 128 printable "
                                      "ASCII characters. A retry with the same key replays the first answer.")] = None,
) -> str:
    if key is None or not key.strip():
        raise Problem(400, "idempotency-key-missing", "Idempotency-Key header required",
                      "Send a unique 'Idempotency-Key' header with every deposit and withdrawal.")
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise Problem(400, "idempotency-key-invalid", "Invalid Idempotency-Key header",
                      f"The key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
    return key


def _cash_account(account_id: AccountIdPath, principal: Principal) -> str:
    # Resolved before the key and the body: an unauthenticated or unauthorized caller learns nothing else.
    principal.require_cash_authority(account_id)
    return account_id


CashAccountId = Annotated[str, Depends(_cash_account)]
MovementBody = Annotated[CashMovementRequest, Depends(_movement_request)]
IdempotencyKey = Annotated[str, Depends(_idempotency_key)]

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CashMovementRequest.model_json_schema()}},
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {"description": "Done, or replayed (header `Idempotent-Replayed: true`)"},
    **problem_responses({
        400: "Missing or invalid Idempotency-Key",
        403: "Only operator and admin tokens move cash (`forbidden`)",
        404: "No such account, or not visible to this token",
        409: "Account not active (`account-not-active`), or a held symbol of a margin account has no fresh quote "
             "(`price-unavailable`, with `symbols`)",
        413: "Body too large",
        422: "Invalid amount (`validation-error`), insufficient funds (`insufficient-funds`, with `available` and "
             "`requested`), or key reused with another amount (`idempotency-key-reused`)",
    }),
}


def _problem(exc: errors.LedgerError, account_id: str) -> Problem:
    if isinstance(exc, errors.AccountNotFound):
        return account_not_found(account_id)
    if isinstance(exc, errors.InsufficientFunds):
        return Problem(422, "insufficient-funds", "Insufficient funds",
                       f"Available {exc.available} {exc.currency}, requested {exc.requested} {exc.currency}.",
                       account_id=account_id, available=exc.available, requested=exc.requested,
                       currency=exc.currency)
    if isinstance(exc, errors.AccountNotActive):
        return Problem(409, "account-not-active", "Account not active", f"Account {account_id!r} is {exc.status}.",
                       account_id=account_id, account_status=exc.status)
    if isinstance(exc, errors.IdempotencyConflict):
        return Problem(422, "idempotency-key-reused", "Idempotency-Key reused",
                       f"The key {exc.key!r} was already used for a different request.", idempotency_key=exc.key)
    if isinstance(exc, errors.InvalidAmount):
        return Problem(422, "validation-error", "Request validation failed", f"Invalid amount: {exc.reason}.",
                       errors=[{"loc": ["body", "amount"], "msg": exc.reason, "type": "value_error"}])
    if isinstance(exc, errors.LedgerInputError):
        return Problem(422, "invalid-request", "Invalid request", str(exc))
    raise exc  # a ledger invariant broke: our bug, answered as a 500 problem by the generic handler


@router.get("/cash-movements", response_model=Page[CashMovementRecord],
            summary="Deposits and withdrawals, newest first")
async def list_cash_movements(
    account_id: VisibleAccountId, pool: DbPool,
    kind: Annotated[list[Literal["deposit", "withdrawal"]] | None, Query(description="Repeatable.")] = None,
    start: FromParam = None, end: ToParam = None, limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None,
) -> Page[CashMovementRecord]:
    start, end = time_range(start, end)
    after = decode_cursor(cursor)
    if after is not None and not (after.id.isascii() and after.id.isdigit() and len(after.id) <= 18):
        raise invalid_cursor(InvalidCursor("not a cursor of this list"))
    rows, next_cursor = page(await queries.cash_movements_page(
        pool, account_id, kind or ("deposit", "withdrawal"), queries.RowFilter(start=start, end=end),
        (after.created_at, int(after.id)) if after else None, limit,
    ), limit, "movement_id")
    return Page(data=[CashMovementRecord.model_validate(dict(r)) for r in rows], next_cursor=next_cursor)


async def _withdrawal_marks(pool: DbPool, redis: RedisClient, account_id: str,
                            stale_seconds: float) -> dict[str, Decimal] | None:
    """Marks for a margin account's held symbols from fresh quotes (None: a cash account, or no such account:
    the ledger answers that one)."""
    account_type = await pool.fetchval("SELECT account_type FROM accounts WHERE account_id = $1", account_id)
    if account_type != "margin":
        return None
    symbols = [h.symbol for h in (await queries.holdings(pool, [account_id]))[account_id]]
    quotes = await QuoteReader(redis).get_many(symbols) if symbols else {}
    at = now_us()
    marks = {s: q.mark for s in symbols if (q := quotes.get(s)) is not None and q.mark is not None
             and q.age_seconds(at) <= stale_seconds}
    missing = [s for s in symbols if s not in marks]
    if missing:
        raise Problem(409, "price-unavailable", "Price unavailable",
                      f"No quote younger than {stale_seconds:g}s for {', '.join(missing)}: a margin account's "
                      f"withdrawal needs its positions at market prices; try again when quotes are flowing.",
                      symbols=missing)
    return {s: mark for s, mark in marks.items() if mark is not None}


async def _move(
    kind: Literal["deposit", "withdrawal"], account_id: str, body: CashMovementRequest, key: str,
    principal: Principal, pool: DbPool, metrics: Metrics, response: Response,
    marks: dict[str, Decimal] | None = None,
) -> CashMovement:
    repository = LedgerRepository(pool)
    try:
        if kind == "deposit":
            movement: LedgerCashMovement = await repository.deposit(account_id, body.amount, idempotency_key=key,
                                                                    actor=principal.actor)
        else:
            movement = await repository.withdraw(account_id, body.amount, idempotency_key=key,
                                                 actor=principal.actor, marks=marks)
    except errors.LedgerError as exc:
        problem = _problem(exc, account_id)
        metrics.cash_movements.labels(kind, problem.slug).inc()
        raise problem from exc
    metrics.cash_movements.labels(kind, "replayed" if movement.replayed else "created").inc()
    if movement.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CashMovement(
        movement_id=movement.movement_id, account_id=movement.account_id, kind=kind, amount=movement.amount,
        currency=movement.currency, cash=movement.cash, blocked=movement.blocked, available=movement.available,
        created_at=movement.created_at,
    )


@router.post("/deposits", status_code=201, response_model=CashMovement, summary="Deposit cash",
             openapi_extra=_BODY_DOC, responses=_RESPONSES)
async def deposit(
    principal: Principal, account_id: CashAccountId, key: IdempotencyKey, body: MovementBody, pool: DbPool,
    metrics: Metrics, response: Response,
) -> CashMovement:
    return await _move("deposit", account_id, body, key, principal, pool, metrics, response)


@router.post("/withdrawals", status_code=201, response_model=CashMovement, summary="Withdraw cash",
             openapi_extra=_BODY_DOC, responses=_RESPONSES)
async def withdraw(
    principal: Principal, account_id: CashAccountId, key: IdempotencyKey, body: MovementBody, pool: DbPool,
    metrics: Metrics, response: Response, redis: RedisClient, settings: AppSettings,
) -> CashMovement:
    try:
        marks = await _withdrawal_marks(pool, redis, account_id, settings.quote_stale_seconds)
    except Problem as problem:
        metrics.cash_movements.labels("withdrawal", problem.slug).inc()
        raise
    return await _move("withdrawal", account_id, body, key, principal, pool, metrics, response, marks)
