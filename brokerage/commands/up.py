"""`brokerage up`: the whole system in the foreground, for a local run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import typer
from rich.console import Console
from rich.table import Table

from brokerage.credentials import hide_password
from brokerage.logs import configure_logging
from brokerage.readiness import local_peers, supervise_and_announce
from brokerage.services import LocalServices, ServiceError
from brokerage.settings import Settings, get_settings
from brokerage.supervisor import ProcessSpec, Supervisor, brokerage_argv

console = Console(stderr=True)


def system_processes(settings: Settings) -> list[ProcessSpec]:
    """Every long-running process of the system, in start order (venue before the gateway)."""
    return [
        ProcessSpec("exchange", brokerage_argv("exchange")),
        ProcessSpec("gateway", brokerage_argv("gateway")),
        ProcessSpec("marketdata", brokerage_argv("marketdata")),
        ProcessSpec("audit", brokerage_argv("audit", "run")),
        ProcessSpec("api", brokerage_argv("api"),  # its /ready asks the others' (ADR 016)
                    {"BROKERAGE_READY_PEERS": json.dumps(local_peers(settings))}),
    ]


def _step(title: str, argv: list[str]) -> None:
    console.print(f"[bold]·[/bold] {title}")
    result = subprocess.run(argv, check=False)
    if result.returncode != 0:
        console.print(f"[red]error:[/red] {title} failed (exit {result.returncode})")
        raise typer.Exit(result.returncode)


def _endpoints(settings: Settings, demo: bool) -> Table:
    table = Table("endpoint", "address", title="brokerage is up")
    table.add_row("FIX 4.4 clients (acceptor)", f"{settings.fix_host}:{settings.fix_port}  TargetCompID "
                  f"{settings.fix_target_comp_id}")
    if settings.fix_tls_port:
        table.add_row("FIX 4.4 clients over TLS", f"{settings.fix_host}:{settings.fix_tls_port}")
    table.add_row("exchange FIX (simulated venue)", f"{settings.exchange_host}:{settings.exchange_port}")
    table.add_row("REST API", f"http://{settings.api_host}:{settings.api_port}  (docs: /docs)")
    ops = ", ".join(f"{name} :{port}" for name, port in (
        ("gateway", settings.gateway_metrics_port), ("exchange", settings.exchange_metrics_port),
        ("marketdata", settings.marketdata_metrics_port), ("audit", settings.audit_metrics_port)) if port)
    table.add_row("/health /ready /metrics (ADR 016)", f"{settings.metrics_host}  {ops}, api :{settings.api_port}")
    table.add_row("PostgreSQL", hide_password(settings.effective_database_url))
    table.add_row("Redis", hide_password(settings.effective_redis_url))
    if settings.uses_local_postgres or settings.uses_local_redis:
        table.add_row("local service passwords", str(settings.resolved_data_dir / "secrets") + "/  (0600)")
    if demo:
        token_file = settings.resolved_data_dir / "admin-token"
        table.add_row("admin token", str(token_file))
        table.add_row("demo FIX logins", "CLIENT1..CLIENT5 / demo1..demo5 → BROKER")
    return table


def up(
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Seed the demo accounts, FIX sessions and token."),
    keep_services: bool = typer.Option(False, help="Leave local PostgreSQL/Redis running after shutdown."),
) -> None:
    """Start local services, apply migrations, seed the demo, then run and supervise every process."""
    os.umask(0o077)  # every file the system writes under var/ is private; the children inherit it
    settings = get_settings()
    configure_logging(settings.log_level, "console")
    services = LocalServices.from_settings(settings)
    try:
        if services.members:
            console.print("[bold]·[/bold] starting local PostgreSQL and Redis")
            services.start()
            for note in services.notes():
                console.print(f"[yellow]note:[/yellow] {note}")
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    _step("applying database migrations", brokerage_argv("db", "upgrade"))
    if demo:
        _step("seeding demo data", brokerage_argv("demo", "seed"))
    console.print(_endpoints(settings, demo))
    supervisor = Supervisor(system_processes(settings))
    try:
        asyncio.run(supervise_and_announce(supervisor, f"http://{settings.api_host}:{settings.api_port}/ready",
                                           console.print))
    finally:
        if services.members and not keep_services:
            console.print("[bold]·[/bold] stopping local services")
            services.stop()
