"""Drop copy: every client ExecutionReport, copied to the drop-copy sessions of its account (ADR 027).

A drop-copy session (``fix_sessions.kind = 'drop-copy'``) is linked to accounts (``fix_session_accounts``)
or to all of them (``fix_sessions.all_accounts``). ``ClientLink.send`` hands each 35=8 it sends to a
client to :meth:`DropCopy.copy`, which sends the same fields, plus CopyMsgIndicator (797=Y), through each
matching drop-copy session's own QuickFIX session: the copy gets that session's sequence numbers and
sits in its FileStore, so a back office that missed it (logged off, disconnected, or reconnecting)
gets it by ResendRequest, exactly as a client gets its own reports. Copies of a report sent again after
a gateway crash (``ClientLink.resend_unconfirmed``) are sent again too, with the same ExecID (17): a
back office recognises a report it already has, as a client does.

Not copied: OrderStatusRequest answers (150=I): a query's answer, not an event of the order.

The routing table (:class:`CopyRoutes`) is pure; :func:`load_routes` reads it from the ledger and the
gateway reloads it with every poll of ``fix_sessions`` (``gateway.fix.live_sessions``), so a link
changed with `brokerage sessions link` applies within a second or two. Only the drop-copy sessions this
gateway serves are routed to: with gateway shards (ADR 015) a drop copy receives the reports of the
client sessions on its own shard (TradeCaptureReportRequest covers every fill).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
import quickfix as fix
import structlog

from gateway.oms.fix_codec import build_message

__all__ = ["COPY_MSG_INDICATOR", "CopyRoutes", "DropCopy", "copy_fields", "load_routes"]

log = structlog.get_logger(__name__)

COPY_MSG_INDICATOR = 797
ORDER_STATUS = "I"  # ExecType of an OrderStatusRequest answer: not copied

Sender = Callable[[fix.SessionID, fix.Message], bool]


@dataclass(frozen=True, slots=True)
class CopyRoutes:
    """Which drop-copy sessions see which account's reports."""

    by_account: Mapping[str, frozenset[str]] = field(default_factory=dict)  # account -> drop-copy CompIDs
    everything: frozenset[str] = frozenset()  # CompIDs linked to every account (present and future)

    def __bool__(self) -> bool:
        return bool(self.by_account or self.everything)

    def targets(self, account: str | None) -> frozenset[str]:
        linked = self.by_account.get(account, frozenset()) if account is not None else frozenset()
        return linked | self.everything if self.everything else linked

    def accounts_of(self, comp_id: str) -> frozenset[str] | None:
        """The accounts a drop-copy session sees: None means every account."""
        if comp_id in self.everything:
            return None
        return frozenset(account for account, comp_ids in self.by_account.items() if comp_id in comp_ids)

    def sessions(self) -> frozenset[str]:
        return self.everything.union(*self.by_account.values())

    def only(self, served: Callable[[str], bool]) -> CopyRoutes:
        """The routes to the sessions this gateway serves (a gateway shard serves some sessions only)."""
        by_account = {account: kept for account, ids in self.by_account.items()
                      if (kept := frozenset(i for i in ids if served(i)))}
        return CopyRoutes(by_account, frozenset(i for i in self.everything if served(i)))


def copy_fields(fields: Sequence[Sequence[object]]) -> tuple[str | None, list[tuple[int, object]]] | None:
    """The account (1) of a client report and the fields of its copy (797=Y added), or None when the
    report is not copied (an order-status answer, 150=I)."""
    account: str | None = None
    out: list[tuple[int, object]] = []
    for tag, value in fields:
        tag_number = int(str(tag))
        if tag_number == 150 and value == ORDER_STATUS:
            return None
        if tag_number == 1:
            account = str(value)
        if tag_number != COPY_MSG_INDICATOR:
            out.append((tag_number, value))
    out.append((COPY_MSG_INDICATOR, "Y"))
    return account, out


async def load_routes(conn: asyncpg.Pool | asyncpg.Connection) -> CopyRoutes:
    """The drop-copy sessions' links, as :class:`CopyRoutes` (disabled sessions too: QuickFIX keeps
    their copies in the store for when they are enabled and log on again)."""
    rows = await conn.fetch(
        "SELECT s.sender_comp_id, s.all_accounts, l.account_id FROM fix_sessions s "
        "LEFT JOIN fix_session_accounts l ON l.sender_comp_id = s.sender_comp_id WHERE s.kind = 'drop-copy'")
    by_account: dict[str, set[str]] = {}
    everything: set[str] = set()
    for row in rows:
        if row["all_accounts"]:
            everything.add(row["sender_comp_id"])
        elif row["account_id"] is not None:
            by_account.setdefault(row["account_id"], set()).add(row["sender_comp_id"])
    return CopyRoutes({account: frozenset(ids) for account, ids in by_account.items()}, frozenset(everything))


class DropCopy:
    """Sends the copies (on the event loop, right after the client's report: one message build and one
    QuickFIX send per drop-copy session; nothing at all when no drop-copy session is provisioned)."""

    def __init__(self, send: Sender, our_comp_id: str, begin_string: str = "FIX.4.4") -> None:
        self._send = send
        self._our = our_comp_id
        self._begin = begin_string
        self.routes = CopyRoutes()
        self.copies_sent = 0

    def copy(self, fields: Sequence[Sequence[object]]) -> int:
        """Copy one client ExecutionReport to the drop-copy sessions of its account; how many were sent."""
        if not self.routes:
            return 0
        found = copy_fields(fields)
        if found is None:
            return 0
        account, copied = found
        sent = 0
        for comp_id in self.routes.targets(account):
            if self._send(fix.SessionID(self._begin, self._our, comp_id), build_message("8", copied)):
                sent += 1
            else:
                log.warning("oms.drop_copy_send_failed", session=comp_id, account=account)
        self.copies_sent += sent
        return sent

    def serves(self, comp_id: str) -> bool:
        return fix.Session.lookupSession(fix.SessionID(self._begin, self._our, comp_id)) is not None

    async def refresh(self, pool: asyncpg.Pool) -> None:
        routes = (await load_routes(pool)).only(self.serves)
        if routes != self.routes:
            log.info("oms.drop_copy_routes", sessions=sorted(routes.sessions()), all_accounts=sorted(routes.everything))
            self.routes = routes
