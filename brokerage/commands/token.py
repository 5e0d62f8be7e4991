"""`brokerage token create|revoke|list|rotate-admin`: REST API bearer tokens (only their hashes are stored).

A secret is printed once, on stdout, by `create` and `rotate-admin`; `list` never shows one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from brokerage.commands.output import Format, FormatOption, emit
from brokerage.settings import get_settings
from ledger.api_tokens import (
    ROLES,
    IssuedToken,
    TokenInfo,
    issue_api_token,
    list_api_tokens,
    parse_ttl,
    revoke_api_token,
)
from ledger.errors import LedgerError
from ledger.provisioning import ensure_admin_token

app = typer.Typer(help="REST API tokens: create, list, revoke, rotate the admin token.", no_args_is_help=True)
console = Console(stderr=True)
T = TypeVar("T")


def _run(action: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
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
    except (OSError, asyncpg.PostgresError, LedgerError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _show_secret(issued: IssuedToken, what: str) -> None:
    expires = f", expires {issued.expires_at:%Y-%m-%d %H:%M} UTC" if issued.expires_at else ""
    console.print(f"{what} {issued.token_id} ({issued.role}{expires}); store it now, it is not shown again:")
    typer.echo(issued.token)


@app.command()
def create(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    account: Annotated[list[str] | None, typer.Option("--account", help="Account an account token may read "
                                                                       "(repeatable).")] = None,
    label: Annotated[str, typer.Option("--label", help="Free text to recognise the token by.")] = "",
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime: 90d, 12h, 30m, 45s (default 90d).")] = "90d",
) -> None:
    """Create a token and print it on stdout (the only time it is shown)."""
    try:
        lifetime = parse_ttl(ttl)
    except LedgerError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    issued = _run(lambda pool: issue_api_token(pool, role, account_ids=account or [], label=label, ttl=lifetime))
    _show_secret(issued, "token")


@app.command()
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (tok_…), as `brokerage token list` "
                                                          "shows it.")]) -> None:
    """Revoke a token: the API refuses it from the next request on."""
    if not _run(lambda pool: revoke_api_token(pool, token_id)):
        console.print(f"[red]error:[/red] no live token {token_id!r}")
        raise typer.Exit(1)
    console.print(f"token {token_id} revoked")


def _as_json(token: TokenInfo) -> dict[str, object]:
    return {
        "token_id": token.token_id, "role": token.role, "label": token.label, "accounts": list(token.account_ids),
        "created_at": token.created_at.isoformat(), "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "managed_admin": token.managed_admin, "status": token.status,
    }


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Also expired and revoked tokens.")] = False,
    format: FormatOption = Format.table,
) -> None:
    """List tokens (ids, roles, accounts, expiry; never the secrets)."""
    tokens = _run(lambda pool: list_api_tokens(pool, include_inactive=all_))

    def render() -> None:
        table = Table("id", "role", "accounts", "label", "created", "expires", "status")
        for t in tokens:
            table.add_row(t.token_id, t.role + (" (managed)" if t.managed_admin else ""), ", ".join(t.account_ids),
                          t.label, f"{t.created_at:%Y-%m-%d %H:%M}", f"{t.expires_at:%Y-%m-%d %H:%M}", t.status)
        Console().print(table)

    emit([_as_json(t) for t in tokens], format, render)


@app.command("rotate-admin")
def rotate_admin() -> None:
    """Issue a new admin token into var/admin-token and revoke the previous one (with BROKERAGE_ADMIN_TOKEN set,
    its new value becomes the admin token instead)."""
    settings = get_settings()
    fixed = settings.admin_token.get_secret_value() if settings.admin_token else None
    token, path, source = _run(lambda pool: ensure_admin_token(pool, settings.resolved_data_dir, fixed, rotate=True))
    console.print(f"admin token ({source}) saved in {path}; the previous admin token is revoked:")
    typer.echo(token)
