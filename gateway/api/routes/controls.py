"""Trading controls over REST: the kill switches (global and per account) and the market-wide operator halt.

``POST /v1/admin/controls/kill-switch`` and ``POST /v1/admin/controls/halt`` call the very functions the CLI
calls (``gateway.oms.controls.set_kill_switch``, ``gateway.oms.halts.set_operator_halt``): same transaction,
same ``risk.kill_switch`` / ``risk.halt`` outbox event, with the token as actor (``api:<token id>``) instead of
``cli:...``. ``GET /v1/admin/controls`` reads the state. Admin and operator tokens only (403 otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import DbPool, Principal
from gateway.api.problems import account_not_found, forbidden, problem_responses
from gateway.oms.controls import set_kill_switch
from gateway.oms.halts import active_halts, set_operator_halt

OPERATING_ROLES = frozenset({"admin", "operator"})
Switch = Literal["on", "off"]
Reason = Annotated[str, Field(default="", max_length=200, description="Why (kept in the audit trail).")]


async def require_operator(principal: Principal) -> None:
    if principal.role not in OPERATING_ROLES:
        raise forbidden("Trading controls need an operator or admin token.")


router = APIRouter(
    prefix="/v1/admin/controls", tags=["controls"], dependencies=[Depends(require_operator)],
    responses=problem_responses({403: "Not an operator or admin token (`forbidden`)"}),
)


class KillSwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Switch
    account: str | None = Field(default=None, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$",
                                description="One account; omitted: the global switch.")
    reason: Reason = ""


class HaltRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Switch
    reason: Reason = ""


class GlobalKillSwitch(BaseModel):
    engaged: bool
    reason: str
    updated_at: datetime | None


class Halt(BaseModel):
    halt_id: int
    kind: str
    level: int | None
    reason: str
    actor: str
    started_at: datetime
    ends_at: datetime | None


class ControlsState(BaseModel):
    kill_switch: GlobalKillSwitch
    killed_accounts: list[str] = Field(description="Accounts whose own kill switch is engaged.")
    halted: bool
    halts: list[Halt]


class ControlChange(BaseModel):
    changed: int = Field(description="1 (or the number of halts ended) when this request changed something, "
                                     "0 when it was already so.")
    state: ControlsState


async def controls_state(pool: asyncpg.Pool) -> ControlsState:
    """Also read by the console's snapshot."""
    row = await pool.fetchrow("SELECT engaged, reason, updated_at FROM trading_controls WHERE name = 'kill_switch'")
    killed = await pool.fetch("SELECT account_id FROM accounts WHERE kill_switch ORDER BY account_id")
    halts = [Halt(halt_id=h.halt_id, kind=h.kind, level=h.level, reason=h.reason, actor=h.actor,
                  started_at=h.started_at, ends_at=h.ends_at) for h in await active_halts(pool)]
    switch = GlobalKillSwitch(engaged=bool(row and row["engaged"]), reason=row["reason"] if row else "",
                              updated_at=row["updated_at"] if row else None)
    return ControlsState(kill_switch=switch, killed_accounts=[r["account_id"] for r in killed],
                         halted=bool(halts), halts=halts)


@router.get("", response_model=ControlsState, summary="Kill switches and active halts")
async def get_controls(pool: DbPool) -> ControlsState:
    return await controls_state(pool)


@router.post("/kill-switch", response_model=ControlChange, summary="Engage or release a kill switch",
             responses=problem_responses({404: "No such account (`account-not-found`)"}))
async def kill_switch(body: KillSwitchRequest, principal: Principal, pool: DbPool) -> ControlChange:
    """Engaged, the gateway refuses new orders of the accounts it covers (every account for the global
    switch) and cancels their working orders. Recorded as a `risk.kill_switch` audit event."""
    try:
        changed = await set_kill_switch(pool, body.state == "on", body.account, principal.actor, body.reason)
    except LookupError as exc:
        raise account_not_found(body.account or "") from exc
    return ControlChange(changed=int(changed), state=await controls_state(pool))


@router.post("/halt", response_model=ControlChange, summary="Halt or resume trading market-wide")
async def halt(body: HaltRequest, principal: Principal, pool: DbPool) -> ControlChange:
    """On: an operator halt (new orders refused until resumed). Off: ends every active halt, the operator's and
    a circuit breaker's. Each change is a `risk.halt` audit event."""
    changed = await set_operator_halt(pool, body.state == "on", principal.actor, body.reason)
    return ControlChange(changed=changed, state=await controls_state(pool))
