"""Kill switches, per account and global (pure). Engaged: new orders are refused (position-reducing ones
may pass, see ``risk``) and the working orders of the affected accounts are canceled.

Only acknowledged orders with no request pending can be canceled (the state machine refuses the rest),
so ``orders_to_cancel`` is meant to be run again on every status change while a switch is engaged; it
is idempotent (orders already pending cancel are skipped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from gateway.oms.model import AccountID, OrdStatus
from gateway.oms.order_fsm import Order

__all__ = ["KillSwitchEngaged", "KillSwitchReleased", "KillSwitches", "engage", "orders_to_cancel", "release"]

_CANCELABLE = (OrdStatus.NEW, OrdStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class KillSwitches:
    global_engaged: bool = False
    accounts: frozenset[AccountID] = frozenset()

    def killed(self, account: AccountID) -> tuple[bool, bool]:
        """(account switch, global switch) for ``RiskContext``."""
        return account in self.accounts, self.global_engaged


@dataclass(frozen=True, slots=True)
class KillSwitchEngaged:
    at: datetime
    account: AccountID | None  # None: global
    reason: str


@dataclass(frozen=True, slots=True)
class KillSwitchReleased:
    at: datetime
    account: AccountID | None


def engage(switches: KillSwitches, at: datetime, account: AccountID | None = None, reason: str = "",
           ) -> tuple[KillSwitches, KillSwitchEngaged | None]:
    """Engage the account's switch (or the global one); None as event when it was already engaged."""
    if account is None:
        if switches.global_engaged:
            return switches, None
        return replace(switches, global_engaged=True), KillSwitchEngaged(at, None, reason)
    if account in switches.accounts:
        return switches, None
    return replace(switches, accounts=switches.accounts | {account}), KillSwitchEngaged(at, account, reason)


def release(switches: KillSwitches, at: datetime, account: AccountID | None = None,
            ) -> tuple[KillSwitches, KillSwitchReleased | None]:
    if account is None:
        if not switches.global_engaged:
            return switches, None
        return replace(switches, global_engaged=False), KillSwitchReleased(at, None)
    if account not in switches.accounts:
        return switches, None
    return replace(switches, accounts=switches.accounts - {account}), KillSwitchReleased(at, account)


def orders_to_cancel(switches: KillSwitches, orders: Iterable[Order]) -> tuple[Order, ...]:
    """The working orders a cancel request should be sent for now."""
    return tuple(
        order for order in orders
        if order.status in _CANCELABLE and (switches.global_engaged or order.account_id in switches.accounts)
    )
