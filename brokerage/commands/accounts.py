"""`brokerage accounts open|deposit|withdraw|list|close`: the operator's account provisioning (docs/adr/017).

Each change is one ledger transaction with an outbox event naming the actor (``cli:<user>``); the
running gateway needs no restart. `--format json` prints the result as JSON (for scripts).
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from brokerage.commands.output import Format, FormatOption, emit
from brokerage.settings import get_settings
from ledger import provisioning
from ledger.errors import LedgerError, LedgerInputError
from ledger.provisioning import AccountInfo

app = typer.Typer(help="Accounts: open, deposit, withdraw, list, close.", no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")
__all__ = ["Format", "FormatOption", "actor", "app", "console", "emit", "run_db"]  # sessions.py shares these


class AccountType(StrEnum):
    cash = "cash"
    margin = "margin"


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def run_db(action: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run ``action`` with a small pool; ledger refusals exit 1, bad input exits 2, with the reason."""
    async def run() -> T:
        pool = await asyncpg.create_pool(get_settings().effective_database_url, min_size=1, max_size=1)
        try:
            return await action(pool)
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except asyncpg.UndefinedTableError as exc:
        console.print(f"[red]error:[/red] the ledger schema is missing ({exc}); run `brokerage db upgrade` first")
        raise typer.Exit(1) from exc
    except LedgerInputError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except (OSError, asyncpg.PostgresError, LedgerError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _account_table(accounts: list[AccountInfo]) -> None:
    table = Table("account", "type", "currency", "status", "cash", "blocked", "available", "FIX sessions")
    for a in accounts:
        table.add_row(a.account_id, a.account_type, a.currency, a.status, f"{a.cash:,.2f}", f"{a.blocked:,.2f}",
                      f"{a.cash - a.blocked:,.2f}", ", ".join(a.sessions))
    Console().print(table)


def _show(account: AccountInfo, format: Format) -> None:
    emit(account.to_json(), format, lambda: _account_table([account]))


@app.command("open")
def open_(
    account_id: Annotated[str, typer.Argument(help="The new account's id (1-32 of A-Z a-z 0-9 _ . -).")],
    type_: Annotated[AccountType, typer.Option("--type", help="cash or margin.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 code.")] = "USD",
    owner: Annotated[str | None, typer.Option("--owner", help="Owner's name (default: the account id).")] = None,
    format: FormatOption = Format.table,
) -> None:
    """Open a cash or margin account (zero cash; deposit next)."""
    account = run_db(lambda pool: provisioning.open_account(pool, account_id, type_.value, currency=currency,
                                                            owner_name=owner, actor=actor()))
    _show(account, format)


def _move(kind: str, account_id: str, amount: str, key: str | None, format: Format) -> None:
    movement = run_db(lambda pool: provisioning.move_cash(pool, kind, account_id, amount, actor=actor(),
                                                          idempotency_key=key))
    body = {**movement.to_json(), "replayed": movement.replayed}
    emit(body, format, lambda: console.print(
        f"{kind} of {movement.amount:,.2f} {movement.currency} on {account_id}"
        f"{' (replayed)' if movement.replayed else ''}: cash {movement.cash:,.2f}, available "
        f"{movement.available:,.2f}"))


AmountArg = Annotated[str, typer.Argument(help="A positive decimal amount, e.g. 25000 or 1234.56.")]
KeyOption = Annotated[str | None, typer.Option("--idempotency-key", help="Retry-safe key: the same key moves money "
                                                                          "once (default: a new one).")]


@app.command()
def deposit(account_id: Annotated[str, typer.Argument(help="The account.")], amount: AmountArg,
            idempotency_key: KeyOption = None, format: FormatOption = Format.table) -> None:
    """Deposit cash (journal entry + outbox event with the actor)."""
    _move("deposit", account_id, amount, idempotency_key, format)


@app.command()
def withdraw(account_id: Annotated[str, typer.Argument(help="The account.")], amount: AmountArg,
             idempotency_key: KeyOption = None, format: FormatOption = Format.table) -> None:
    """Withdraw cash, up to what is free (margin accounts: Reg T with positions at average cost)."""
    _move("withdrawal", account_id, amount, idempotency_key, format)


@app.command("list")
def list_(format: FormatOption = Format.table) -> None:
    """Every account with its cash and the FIX sessions linked to it."""
    accounts = run_db(provisioning.list_accounts)
    emit([a.to_json() for a in accounts], format, lambda: _account_table(accounts))


@app.command()
def close(account_id: Annotated[str, typer.Argument(help="The account.")],
          format: FormatOption = Format.table) -> None:
    """Close an account; refused while it has open orders, positions or cash."""
    account = run_db(lambda pool: provisioning.close_account(pool, account_id, actor=actor()))
    _show(account, format)



class StpChoice(StrEnum):
    cancel_newest = "cancel_newest"
    cancel_oldest = "cancel_oldest"
    cancel_both = "cancel_both"


@app.command()
def stp(account_id: Annotated[str, typer.Argument(help="The account.")],
        mode: Annotated[StpChoice, typer.Argument(help="cancel_newest (default), cancel_oldest or cancel_both.")],
        ) -> None:
    """Set the account's self-trade prevention mode at the exchange (ADR 025); orders routed from about a
    second later carry it (tag 7940)."""
    from gateway.oms.self_trade import StpMode, set_mode

    if not run_db(lambda pool: set_mode(pool, account_id, StpMode(mode.value), actor())):
        console.print(f"[red]no account {account_id}[/red]")
        raise typer.Exit(1)
    console.print(f"{account_id}: self-trade prevention {mode.value}")
