"""The `brokerage` console script: one typer app, each command group in brokerage/commands/."""

from __future__ import annotations

import typer

from brokerage.commands import accounts as accounts_cmd
from brokerage.commands import api as api_cmd
from brokerage.commands import audit as audit_cmd
from brokerage.commands import conformance as conformance_cmd
from brokerage.commands import db as db_cmd
from brokerage.commands import demo as demo_cmd
from brokerage.commands import exchange as exchange_cmd
from brokerage.commands import fix_client as fix_client_cmd
from brokerage.commands import frontdoor as frontdoor_cmd
from brokerage.commands import gateway as gateway_cmd
from brokerage.commands import halt as halt_cmd
from brokerage.commands import kill_switch as kill_switch_cmd
from brokerage.commands import marketdata as marketdata_cmd
from brokerage.commands import orders as orders_cmd
from brokerage.commands import report as report_cmd
from brokerage.commands import search as search_cmd
from brokerage.commands import services as services_cmd
from brokerage.commands import sessions as sessions_cmd
from brokerage.commands import token as token_cmd
from brokerage.commands import up as up_cmd

app = typer.Typer(
    name="brokerage",
    help="FIX 4.4 brokerage gateway: run the system, manage local services, the ledger and the demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Listed in --help in this order: run the system, operate it, then the individual processes and tools.
app.command(name="up")(up_cmd.up)
app.add_typer(services_cmd.app, name="services")
app.add_typer(db_cmd.app, name="db")
app.add_typer(demo_cmd.app, name="demo")
app.add_typer(token_cmd.app, name="token")
app.add_typer(accounts_cmd.app, name="accounts")
app.add_typer(sessions_cmd.app, name="sessions")
app.add_typer(kill_switch_cmd.app, name="kill-switch")
app.add_typer(halt_cmd.app, name="halt")
app.add_typer(orders_cmd.app, name="orders")
app.command(name="exchange")(exchange_cmd.exchange)
app.command(name="gateway")(gateway_cmd.gateway)
app.command(name="frontdoor")(frontdoor_cmd.frontdoor)
app.command(name="marketdata")(marketdata_cmd.marketdata)
app.add_typer(audit_cmd.app, name="audit")
app.command(name="api")(api_cmd.api)
app.command(name="report")(report_cmd.report)
app.add_typer(search_cmd.app, name="search")
app.command(name="fix-client")(fix_client_cmd.fix_client)
app.command(name="conformance-server")(conformance_cmd.conformance_server)

if __name__ == "__main__":
    app()
