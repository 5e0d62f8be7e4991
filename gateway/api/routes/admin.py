"""Admin provisioning: ``/v1/admin/accounts`` and ``/v1/admin/sessions`` (docs/adr/017).

The same operations as `brokerage accounts ...` and `brokerage sessions ...`, through the same ledger
functions (``ledger.provisioning``): every change is one transaction with an outbox event whose
``actor`` is ``api:<token id>``. Admin tokens only, except deposits and withdrawals, which operator
tokens may also post. The running gateway applies session changes within seconds, without a restart.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import AppSettings, DbPool, Metrics, Principal
from gateway.api.problems import Problem, account_not_found, forbidden, problem_responses
from gateway.api.routes.cash import MovementBody, _problem
from gateway.api.schemas import CashMovement
from ledger import errors, provisioning
from ledger.provisioning import AccountInfo, SessionInfo

router = APIRouter(prefix="/v1/admin", tags=["admin"])

ACCOUNT_PATTERN = provisioning.ACCOUNT_ID.pattern
COMP_ID_PATTERN = provisioning.COMP_ID.pattern
AccountIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=ACCOUNT_PATTERN)]
CompIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=COMP_ID_PATTERN)]
Password = Annotated[str, Field(min_length=provisioning.MIN_PASSWORD, max_length=provisioning.MAX_PASSWORD,
                                pattern=r"^[!-~](?:[ -~]*[!-~])?$",
                                description="8-128 printable ASCII characters, no leading/trailing blanks.")]


# --- who may call ----------------------------------------------------------------------------------

async def _admin(principal: Principal) -> Principal:
    if principal.role != "admin":
        raise forbidden("Provisioning needs an admin token.")
    return principal


async def _cash_operator(principal: Principal) -> Principal:
    if principal.role not in ("admin", "operator"):
        raise forbidden("Deposits and withdrawals need an operator or admin token.")
    return principal


Admin = Annotated[Principal, Depends(_admin)]
CashOperator = Annotated[Principal, Depends(_cash_operator)]


# --- bodies and answers ----------------------------------------------------------------------------

class OpenAccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(min_length=1, max_length=32, pattern=ACCOUNT_PATTERN)
    account_type: Literal["cash", "margin"]
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    owner_name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class AdminAccount(BaseModel):
    account_id: str
    account_type: Literal["cash", "margin"]
    currency: str
    status: str
    cash: Decimal
    blocked: Decimal
    available: Decimal
    sessions: list[str] = Field(description="FIX sessions (SenderCompIDs) linked to the account.")
    created_at: datetime


class CreateSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender_comp_id: str = Field(min_length=1, max_length=64, pattern=COMP_ID_PATTERN)
    password: Password
    account_id: str = Field(min_length=1, max_length=32, pattern=ACCOUNT_PATTERN,
                            description="The session's default account.")
    kind: Literal["client", "drop-copy"] = "client"


class PasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


class DisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: bool = False


class AdminSession(BaseModel):
    sender_comp_id: str
    target_comp_id: str
    kind: Literal["client", "drop-copy"]
    enabled: bool
    accounts: list[str] = Field(description="Linked accounts, the default first.")
    default_account: str | None
    logged_on: bool | None = Field(description="As the gateway last published it; null when no gateway has "
                                               "reported the session in the last 15 s.")
    next_sender_seq: int | None = Field(description="Next MsgSeqNum the gateway sends (out).")
    next_target_seq: int | None = Field(description="Next MsgSeqNum the gateway expects (in).")
    last_message_at: datetime | None
    state_updated_at: datetime | None
    gateway: str | None
    all_accounts: bool = Field(False, description="A drop-copy session that sees every account (ADR 027).")


def _account(info: AccountInfo) -> AdminAccount:
    return AdminAccount.model_validate(info.to_json())


def _session(info: SessionInfo) -> AdminSession:
    return AdminSession.model_validate(info.to_json())


def _refusal(exc: errors.LedgerError, account_id: str | None = None) -> Problem:
    if isinstance(exc, provisioning.AlreadyExists):
        return Problem(409, "already-exists", "Already exists", str(exc), key=exc.key)
    if isinstance(exc, provisioning.SessionNotFound):
        return Problem(404, "session-not-found", "FIX session not found", str(exc),
                       sender_comp_id=exc.sender_comp_id)
    if isinstance(exc, provisioning.NotLinked):
        return Problem(404, "not-linked", "Account not linked", str(exc), sender_comp_id=exc.sender_comp_id,
                       account_id=exc.account_id)
    if isinstance(exc, provisioning.AccountBusy):
        return Problem(409, "account-busy", "Account has open orders, positions or cash", str(exc),
                       account_id=exc.account_id, reasons=list(exc.reasons))
    if isinstance(exc, errors.AccountNotFound):
        return account_not_found(account_id or str(exc))
    return _problem(exc, account_id or "")


_WRITE_PROBLEMS = problem_responses({
    403: "Not an admin token (`forbidden`)",
    404: "No such account (`account-not-found`), session (`session-not-found`) or link (`not-linked`)",
    409: "Already exists (`already-exists`), or the account has open orders, positions or cash (`account-busy`)",
    422: "Invalid input (`validation-error`, `invalid-request`)",
})


# --- accounts --------------------------------------------------------------------------------------

@router.get("/accounts", response_model=list[AdminAccount], summary="Every account (admin)",
            responses=problem_responses({403: "Not an admin token"}))
async def list_accounts(_: Admin, pool: DbPool) -> list[AdminAccount]:
    return [_account(a) for a in await provisioning.list_accounts(pool)]


@router.post("/accounts", status_code=201, response_model=AdminAccount, summary="Open an account (admin)",
             responses=_WRITE_PROBLEMS)
async def open_account(body: OpenAccountRequest, principal: Admin, pool: DbPool) -> AdminAccount:
    try:
        info = await provisioning.open_account(pool, body.account_id, body.account_type, currency=body.currency,
                                               owner_name=body.owner_name, actor=principal.actor)
    except errors.LedgerError as exc:
        raise _refusal(exc, body.account_id) from exc
    return _account(info)


@router.post("/accounts/{account_id}/close", response_model=AdminAccount,
             summary="Close an account with no open orders, positions or cash (admin)", responses=_WRITE_PROBLEMS)
async def close_account(account_id: AccountIdPath, principal: Admin, pool: DbPool) -> AdminAccount:
    try:
        return _account(await provisioning.close_account(pool, account_id, actor=principal.actor))
    except errors.LedgerError as exc:
        raise _refusal(exc, account_id) from exc


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128, pattern=r"^[!-~]+$",
                                              description="Optional; a retry with the same key moves money once.")]

_CASH_PROBLEMS = problem_responses({
    403: "Not an operator or admin token (`forbidden`)",
    404: "No such account",
    409: "Account not active (`account-not-active`)",
    422: "Invalid amount, insufficient funds (`insufficient-funds`) or key reused (`idempotency-key-reused`)",
})


async def _cash(kind: str, account_id: str, body: Any, key: str | None, principal: Principal, pool: DbPool,
                metrics: Metrics) -> CashMovement:
    try:
        movement = await provisioning.move_cash(pool, kind, account_id, body.amount, actor=principal.actor,
                                                idempotency_key=f"admin:{key}" if key else None)
    except errors.LedgerError as exc:
        problem = _refusal(exc, account_id)
        metrics.cash_movements.labels(kind, problem.slug).inc()
        raise problem from exc
    metrics.cash_movements.labels(kind, "replayed" if movement.replayed else "created").inc()
    return CashMovement.model_validate(movement.to_json())


@router.post("/accounts/{account_id}/deposits", status_code=201, response_model=CashMovement,
             summary="Deposit cash (admin or operator)", responses=_CASH_PROBLEMS)
async def deposit(account_id: AccountIdPath, principal: CashOperator, body: MovementBody, pool: DbPool,
                  metrics: Metrics, key: IdempotencyKey = None) -> CashMovement:
    return await _cash("deposit", account_id, body, key, principal, pool, metrics)


@router.post("/accounts/{account_id}/withdrawals", status_code=201, response_model=CashMovement,
             summary="Withdraw cash (admin or operator; margin positions at average cost)",
             responses=_CASH_PROBLEMS)
async def withdraw(account_id: AccountIdPath, principal: CashOperator, body: MovementBody, pool: DbPool,
                   metrics: Metrics, key: IdempotencyKey = None) -> CashMovement:
    return await _cash("withdrawal", account_id, body, key, principal, pool, metrics)


# --- FIX sessions ----------------------------------------------------------------------------------

@router.get("/sessions", response_model=list[AdminSession],
            summary="Every FIX session with its state (logged on, sequence numbers, last message) (admin)",
            responses=problem_responses({403: "Not an admin token"}))
async def list_sessions(_: Admin, pool: DbPool) -> list[AdminSession]:
    return [_session(s) for s in await provisioning.list_sessions(pool)]


@router.get("/sessions/{sender_comp_id}", response_model=AdminSession, summary="One FIX session (admin)",
            responses=problem_responses({403: "Not an admin token", 404: "No such session"}))
async def get_session(sender_comp_id: CompIdPath, _: Admin, pool: DbPool) -> AdminSession:
    try:
        return _session(await provisioning.get_session(pool, sender_comp_id))
    except errors.LedgerError as exc:
        raise _refusal(exc) from exc


@router.post("/sessions", status_code=201, response_model=AdminSession,
             summary="Create a FIX session; it can log on within seconds (admin)", responses=_WRITE_PROBLEMS)
async def create_session(body: CreateSessionRequest, principal: Admin, pool: DbPool,
                         settings: AppSettings) -> AdminSession:
    try:
        info = await provisioning.create_session(
            pool, body.sender_comp_id, body.password, body.account_id, kind=body.kind,
            target_comp_id=settings.fix_target_comp_id, actor=principal.actor)
    except errors.LedgerError as exc:
        raise _refusal(exc, body.account_id) from exc
    return _session(info)


@router.post("/sessions/{sender_comp_id}/disable", response_model=AdminSession,
             summary="Disable: logged out with Text 58 'Session disabled', Logons refused (admin)",
             responses=_WRITE_PROBLEMS)
async def disable_session(sender_comp_id: CompIdPath, principal: Admin, pool: DbPool,
                          body: DisableRequest | None = None) -> AdminSession:
    try:
        return _session(await provisioning.set_session_enabled(
            pool, sender_comp_id, False, actor=principal.actor, reason=body.reason if body else ""))
    except errors.LedgerError as exc:
        raise _refusal(exc) from exc


@router.post("/sessions/{sender_comp_id}/enable", response_model=AdminSession, summary="Enable again (admin)",
             responses=_WRITE_PROBLEMS)
async def enable_session(sender_comp_id: CompIdPath, principal: Admin, pool: DbPool) -> AdminSession:
    try:
        return _session(await provisioning.set_session_enabled(pool, sender_comp_id, True, actor=principal.actor))
    except errors.LedgerError as exc:
        raise _refusal(exc) from exc


@router.put("/sessions/{sender_comp_id}/password", response_model=AdminSession,
            summary="Set the password; required from the next Logon, logged-on sessions stay up (admin)",
            responses=_WRITE_PROBLEMS)
async def set_password(sender_comp_id: CompIdPath, body: PasswordRequest, principal: Admin,
                       pool: DbPool) -> AdminSession:
    try:
        return _session(await provisioning.set_session_password(pool, sender_comp_id, body.password,
                                                                actor=principal.actor))
    except errors.LedgerError as exc:
        raise _refusal(exc) from exc


@router.put("/sessions/{sender_comp_id}/accounts/{account_id}", response_model=AdminSession,
            summary="Link an account to the session (admin)", responses=_WRITE_PROBLEMS)
async def link_account(sender_comp_id: CompIdPath, account_id: AccountIdPath, principal: Admin, pool: DbPool,
                       body: LinkRequest | None = None) -> AdminSession:
    try:
        return _session(await provisioning.link_account(pool, sender_comp_id, account_id, actor=principal.actor,
                                                        default=bool(body and body.default)))
    except errors.LedgerError as exc:
        raise _refusal(exc, account_id) from exc


@router.delete("/sessions/{sender_comp_id}/accounts/{account_id}", response_model=AdminSession,
               summary="Unlink an account from the session (admin)", responses=_WRITE_PROBLEMS)
async def unlink_account(sender_comp_id: CompIdPath, account_id: AccountIdPath, principal: Admin,
                         pool: DbPool) -> AdminSession:
    try:
        return _session(await provisioning.unlink_account(pool, sender_comp_id, account_id, actor=principal.actor))
    except errors.LedgerError as exc:
        raise _refusal(exc, account_id) from exc


# drop copy (ADR 027): a drop-copy session may see every account, present and future
@router.put("/sessions/{sender_comp_id}/all-accounts", response_model=AdminSession,
            summary="Let a drop-copy session see every account (admin)", responses=_WRITE_PROBLEMS)
async def link_all_accounts(sender_comp_id: CompIdPath, principal: Admin, pool: DbPool) -> AdminSession:
    try:
        return _session(await provisioning.set_all_accounts(pool, sender_comp_id, True, actor=principal.actor))
    except errors.LedgerError as exc:
        raise _refusal(exc) from exc


@router.delete("/sessions/{sender_comp_id}/all-accounts", response_model=AdminSession,
               summary="A drop-copy session back to its linked accounts only (admin)", responses=_WRITE_PROBLEMS)
async def unlink_all_accounts(sender_comp_id: CompIdPath, principal: Admin, pool: DbPool) -> AdminSession:
    try:
        return _session(await provisioning.set_all_accounts(pool, sender_comp_id, False, actor=principal.actor))
    except errors.LedgerError as exc:
        raise _refusal(exc) from exc
