"""`brokerage sessions create|disable|enable|set-password|link|unlink|list`: FIX session provisioning.

Every change applies to the running gateway within seconds, without a restart (docs/adr/017): a new
session can log on, a disabled one is logged out (Text 58 "Session disabled") and refused, a new
password is required from the next Logon (established sessions stay up), links change which accounts a
session may trade. Passwords are read from a file (its first line), never from the command line.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from brokerage.commands.accounts import Format, FormatOption, actor, console, emit, run_db
from brokerage.settings import get_settings
from ledger import provisioning
from ledger.errors import LedgerInputError
from ledger.provisioning import SessionInfo

app = typer.Typer(help="FIX sessions: create, disable, enable, set-password, link, unlink, list.",
                  no_args_is_help=True)


class Kind(StrEnum):
    client = "client"
    drop_copy = "drop-copy"


CompIdArg = Annotated[str, typer.Argument(help="The client's SenderCompID.")]
PasswordFile = Annotated[Path, typer.Option("--password-file", help="File whose first line is the password "
                                                                    "(8-128 printable ASCII).")]


def _password(path: Path) -> str:
    try:
        return provisioning.read_password_file(path)
    except (OSError, UnicodeDecodeError, LedgerInputError) as exc:
        console.print(f"[red]error:[/red] {path}: {exc}")
        raise typer.Exit(2) from exc


def _age(at: datetime | None) -> str:
    if at is None:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - at).total_seconds()))
    return f"{seconds}s ago" if seconds < 120 else f"{at:%Y-%m-%d %H:%M:%S}"


def _table(sessions: list[SessionInfo]) -> None:
    table = Table("SenderCompID", "kind", "enabled", "logged on", "seq in", "seq out", "last message",
                  "accounts (default first)")
    for s in sessions:
        logged_on = "unknown" if s.logged_on is None else ("yes" if s.logged_on else "no")
        table.add_row(s.sender_comp_id, s.kind, "yes" if s.enabled else "NO", logged_on,
                      str(s.next_target_seq or "-"), str(s.next_sender_seq or "-"), _age(s.last_message_at),
                      ", ".join(s.accounts))
    Console().print(table)


def _show(session: SessionInfo, format: Format, message: str) -> None:
    emit(session.to_json(), format, lambda: console.print(message))


@app.command()
def create(
    sender_comp_id: CompIdArg, password_file: PasswordFile,
    account: Annotated[str | None, typer.Option("--account", help="The account it trades for (its default); "
                                                                   "a drop-copy session: the account it sees.")] = None,
    kind: Annotated[Kind, typer.Option("--kind", help="client or drop-copy.")] = Kind.client,
    all_accounts: Annotated[bool, typer.Option("--all-accounts", help="drop-copy: see every account, present "
                                                                      "and future.")] = False,
    format: FormatOption = Format.table,
) -> None:
    """Create a FIX session toward the gateway's CompID; it can log on within seconds. A drop-copy session
    (--kind drop-copy) receives a copy of every execution report of its accounts (docs/adr/027)."""
    password = _password(password_file)
    target = get_settings().fix_target_comp_id
    session = run_db(lambda pool: provisioning.create_session(pool, sender_comp_id, password, account,
                                                              kind=kind.value, target_comp_id=target,
                                                              actor=actor(), all_accounts=all_accounts))
    seen = "all accounts" if all_accounts else f"account {account}"
    _show(session, format, f"FIX session {sender_comp_id} -> {target} created ({kind.value}, {seen}); "
                           "it can log on within seconds")


@app.command()
def disable(sender_comp_id: CompIdArg,
            reason: Annotated[str, typer.Option("--reason", help="Recorded in the audit event.")] = "",
            format: FormatOption = Format.table) -> None:
    """Disable: a logged-on client is logged out (58=Session disabled) and further Logons are refused."""
    session = run_db(lambda pool: provisioning.set_session_enabled(pool, sender_comp_id, False, actor=actor(),
                                                                   reason=reason))
    _show(session, format, f"FIX session {sender_comp_id} disabled")


@app.command()
def enable(sender_comp_id: CompIdArg, format: FormatOption = Format.table) -> None:
    """Enable again: the client may log on."""
    session = run_db(lambda pool: provisioning.set_session_enabled(pool, sender_comp_id, True, actor=actor()))
    _show(session, format, f"FIX session {sender_comp_id} enabled")


@app.command("set-password")
def set_password(sender_comp_id: CompIdArg, password_file: PasswordFile, format: FormatOption = Format.table) -> None:
    """Set (or reset) the password; required from the next Logon on, a logged-on session stays up."""
    password = _password(password_file)
    session = run_db(lambda pool: provisioning.set_session_password(pool, sender_comp_id, password, actor=actor()))
    _show(session, format, f"FIX session {sender_comp_id}: new password applies at the next Logon")


AllAccounts = Annotated[bool, typer.Option("--all-accounts", help="drop-copy: every account, present and "
                                                                   "future (give no ACCOUNT_ID).")]


@app.command()
def link(sender_comp_id: CompIdArg,
         account_id: Annotated[str | None, typer.Argument(help="The account.")] = None,
         default: Annotated[bool, typer.Option("--default", help="Make it the session's default account.")] = False,
         all_accounts: AllAccounts = False, format: FormatOption = Format.table) -> None:
    """Let the session trade for another account (Account, tag 1); a drop-copy session: see it."""
    if all_accounts:
        session = run_db(lambda pool: provisioning.set_all_accounts(pool, sender_comp_id, True, actor=actor()))
        _show(session, format, f"{sender_comp_id} sees every account")
        return
    if account_id is None:
        console.print("[red]error:[/red] give an ACCOUNT_ID or --all-accounts")
        raise typer.Exit(2)
    session = run_db(lambda pool: provisioning.link_account(pool, sender_comp_id, account_id, actor=actor(),
                                                            default=default))
    _show(session, format, f"{account_id} linked to {sender_comp_id} (accounts: {', '.join(session.accounts)})")


@app.command()
def unlink(sender_comp_id: CompIdArg, account_id: Annotated[str | None, typer.Argument(help="The account.")] = None,
           all_accounts: AllAccounts = False, format: FormatOption = Format.table) -> None:
    """Stop the session trading for an account (a drop-copy session: --all-accounts back to its links)."""
    if all_accounts:
        session = run_db(lambda pool: provisioning.set_all_accounts(pool, sender_comp_id, False, actor=actor()))
        _show(session, format, f"{sender_comp_id} sees its linked accounts only")
        return
    if account_id is None:
        console.print("[red]error:[/red] give an ACCOUNT_ID or --all-accounts")
        raise typer.Exit(2)
    session = run_db(lambda pool: provisioning.unlink_account(pool, sender_comp_id, account_id, actor=actor()))
    _show(session, format, f"{account_id} unlinked from {sender_comp_id} "
                           f"(accounts: {', '.join(session.accounts) or 'none'})")


@app.command("list")
def list_(format: FormatOption = Format.table) -> None:
    """Every FIX session: enabled, logged on, sequence numbers in/out, last message, accounts."""
    sessions = run_db(provisioning.list_sessions)
    emit([s.to_json() for s in sessions], format, lambda: _table(sessions))
