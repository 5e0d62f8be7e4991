"""`brokerage fix-client`: log on as a FIX client and trade from the terminal (or from a pipe).

    brokerage fix-client                          # interactive, CLIENT1 -> BROKER on 127.0.0.1:9876
    echo "buy 100 AAPL limit 190.50" | brokerage fix-client --wait 5
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from brokerage.settings import get_settings
from fixclient import events as ev
from fixclient.client import FixClient, LogonRejected, SessionClosed
from fixclient.messages import InboundMessage
from fixclient.store import StoreError
from fixclient.terminal import (
    HELP,
    CancelOrder,
    Command,
    CommandError,
    Help,
    MarketData,
    PlaceOrder,
    Quit,
    ReplaceOrder,
    StatusRequest,
    describe_event,
    describe_message,
    parse_command,
)

console = Console(highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    sender: str
    target: str
    password: str | None
    username: str | None
    heartbeat: int
    reset: bool
    store: Path | None
    wait: float
    show_heartbeats: bool
    ssl_context: ssl.SSLContext | None = None


def fix_client(
    host: Annotated[str | None, typer.Option(help="Gateway host [default: settings fix_host, 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Gateway FIX port [default: settings fix_port, 9876]")] = None,
    sender: Annotated[str, typer.Option(help="Our SenderCompID")] = "CLIENT1",
    target: Annotated[str | None, typer.Option(help="The gateway's CompID [default: settings, BROKER]")] = None,
    password: Annotated[str | None, typer.Option(help="Password(554) sent in the Logon")] = "demo1",
    username: Annotated[str | None, typer.Option(help="Username(553) sent in the Logon")] = None,
    heartbeat: Annotated[int | None, typer.Option(help="HeartBtInt in seconds [default: settings, 30]")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Logon with ResetSeqNumFlag=Y (both start at 1)")] = False,
    store: Annotated[Path | None, typer.Option(
        help="JSON file keeping sequence numbers between runs [default: <data_dir>/fix-client/SENDER-TARGET.json]",
    )] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Connect with TLS (the gateway's fix_tls_port)")] = False,
    cafile: Annotated[Path | None, typer.Option(
        help="With --tls: trust this CA/certificate file instead of the system store")] = None,
    wait: Annotated[float, typer.Option(help="When input ends, seconds to wait for answers to requests")] = 5.0,
    show_heartbeats: Annotated[bool, typer.Option(help="Print heartbeats as they come and go")] = True,
) -> None:
    """Log on to the gateway and type orders: buy 100 AAPL \\[limit 190.50], sell ..., cancel ID, status ID, quit.

    Reads commands from the terminal, or line by line from stdin when it is a pipe or file; type 'help'
    once logged on for the whole command list.
    """
    settings = get_settings()
    target = target or settings.fix_target_comp_id
    # Like any FIX engine, keep sequence numbers between runs: the gateway remembers them for the day.
    store = store or settings.resolved_data_dir / "fix-client" / f"{sender}-{target}.json"
    if cafile is not None and not tls:
        raise typer.BadParameter("--cafile needs --tls")
    ssl_context = ssl.create_default_context(cafile=str(cafile) if cafile else None) if tls else None
    default_port = (settings.fix_tls_port or settings.fix_port) if tls else settings.fix_port
    options = Options(host or settings.fix_host, port or default_port, sender, target, password, username,
                      heartbeat or settings.fix_heartbeat_seconds, reset, store, wait, show_heartbeats, ssl_context)
    raise typer.Exit(asyncio.run(run(options)))


def _start_reader(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None], interactive: bool) -> None:
    """Read stdin on a daemon thread: a blocked readline must not keep the process alive at exit."""
    def read() -> None:
        while True:
            try:
                line: str | None = console.input("[bold]fix>[/bold] ") if interactive else sys.stdin.readline()
            except (EOFError, KeyboardInterrupt):
                line = None
            if not interactive and line == "":
                line = None
            loop.call_soon_threadsafe(lines.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=read, name="fix-client-stdin", daemon=True).start()


async def run(options: Options) -> int:
    try:
        client = await FixClient.connect(options.host, options.port, options.sender, options.target,
                                         password=options.password, username=options.username,
                                         heartbeat=options.heartbeat, reset_seq_num=options.reset,
                                         store_path=options.store, ssl_context=options.ssl_context)
    except StoreError as exc:
        console.print(f"[red]{escape(str(exc))}[/red] (delete it or pass --reset)")
        return 2
    except (OSError, TimeoutError) as exc:  # ssl.SSLError (bad certificate) is an OSError
        console.print(f"[red]cannot connect to {options.host}:{options.port}:[/red] {escape(str(exc))}")
        return 2
    awaiting = Outstanding()
    printers = [asyncio.create_task(_print_messages(client, awaiting)),
                asyncio.create_task(_print_events(client, options.show_heartbeats))]
    await asyncio.sleep(0)  # let the printers subscribe before anything arrives
    try:
        await client.logon()
    except (LogonRejected, SessionClosed, TimeoutError) as exc:
        console.print(f"[red]logon failed:[/red] {escape(str(exc))}")
        if "MsgSeqNum too low" in str(exc):
            console.print(f"sequence numbers are out of step with the gateway (kept in {options.store}); "
                          "--reset starts both sides at 1")
        await client.close()
        return 3
    console.print(f"logged on as {options.sender} -> {options.target} at {options.host}:{options.port} "
                  f"(HeartBtInt {options.heartbeat}s); type 'help' for commands")
    interactive = sys.stdin.isatty()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _start_reader(asyncio.get_running_loop(), lines, interactive)
    code = 0
    while not client.is_closed:
        line_task = asyncio.ensure_future(lines.get())
        closed_task = asyncio.ensure_future(client.wait_closed())
        await asyncio.wait({line_task, closed_task}, return_when=asyncio.FIRST_COMPLETED)
        closed_task.cancel()
        if not line_task.done():
            line_task.cancel()
            break
        line = line_task.result()
        if line is None:
            await awaiting.wait_until_answered(options.wait)
            break
        try:
            command = parse_command(line)
        except CommandError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/yellow]")
            code = 1 if not interactive else code
            continue
        if command is None:
            continue
        if isinstance(command, Quit):
            break
        try:
            await _execute(client, command, awaiting)
        except ValueError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/yellow]")
            code = 1 if not interactive else code
        except SessionClosed:
            break
    if client.is_closed:
        console.print(f"[red]session ended:[/red] {escape(client.closed_reason or 'closed')}")
        code = code or 1
    else:
        await client.logout()
        console.print("logged out")
    for task in printers:
        task.cancel()
    await asyncio.gather(*printers, return_exceptions=True)
    return code


async def _execute(client: FixClient, command: Command, awaiting: Outstanding) -> None:
    match command:
        case Help():
            console.print(escape(HELP))
        case PlaceOrder(side, qty, symbol, ord_type, price, stop_px, tif, account, chosen_id):
            if chosen_id is not None and client.order_ticket(chosen_id) is not None:
                raise ValueError(f"ClOrdID {chosen_id!r} is already used in this run")
            cl_ord_id = await client.new_order_single(symbol, side, qty, ord_type, price, stop_px, tif, account,
                                                      cl_ord_id=chosen_id)
            awaiting.add(cl_ord_id, client.last_app_seq_num)
            terms = f" stop {stop_px}" if stop_px is not None else ""
            terms += f" @ {price}" if price is not None else ""
            console.print(f"-> NewOrderSingle {cl_ord_id}: {side} {qty} {symbol} {ord_type}{terms} {tif}")
        case CancelOrder(orig):
            _known(client, orig)
            cl_ord_id = await client.cancel(orig)
            awaiting.add(cl_ord_id, client.last_app_seq_num)
            console.print(f"-> OrderCancelRequest {cl_ord_id} for {orig}")
        case ReplaceOrder(orig, qty, price):
            _known(client, orig)
            cl_ord_id = await client.replace(orig, qty=qty, price=price)
            awaiting.add(cl_ord_id, client.last_app_seq_num)
            console.print(f"-> OrderCancelReplaceRequest {cl_ord_id} for {orig}")
        case StatusRequest(cl_ord_id):
            _known(client, cl_ord_id)
            await client.order_status(cl_ord_id)
            awaiting.add(cl_ord_id, client.last_app_seq_num)
            console.print(f"-> OrderStatusRequest {cl_ord_id}")
        case MarketData(symbols):
            md_req_id = await client.market_data_request(list(symbols))
            console.print(f"-> MarketDataRequest {md_req_id}: {' '.join(symbols)}")


def _known(client: FixClient, cl_ord_id: str) -> None:
    if client.order_ticket(cl_ord_id) is None:
        raise ValueError(f"unknown ClOrdID {cl_ord_id!r}: only orders placed in this run can be named")


async def _print_messages(client: FixClient, awaiting: Outstanding) -> None:
    async for msg in client.messages():
        console.print(f"<- {escape(describe_message(msg))}")
        awaiting.answer(msg)


async def _print_events(client: FixClient, show_heartbeats: bool) -> None:
    async for event in client.session_events():
        if not show_heartbeats and isinstance(event, ev.HeartbeatReceived | ev.HeartbeatSent):
            continue
        if isinstance(event, ev.LoggedOut) and not event.initiated_by_peer:
            continue  # our own logout is reported once the command ends
        text = describe_event(event)
        if text:
            console.print(f"[dim]   {escape(text)}[/dim]")


PENDING_ORD_STATUSES = frozenset({"A", "6", "E"})
SETTLE_SECONDS = 0.5


class Outstanding:
    """Our requests still without an answer: by ClOrdID, and by MsgSeqNum for rejects that only
    reference the message (session Reject 35=3, BusinessMessageReject 35=j)."""

    def __init__(self) -> None:
        self.by_cl_ord_id: dict[str, int | None] = {}
        self.answered = asyncio.Event()

    def add(self, cl_ord_id: str, seq_num: int | None) -> None:
        self.by_cl_ord_id[cl_ord_id] = seq_num

    def answer(self, msg: InboundMessage) -> None:
        if msg.msg_type == "8" and msg.get(39) in PENDING_ORD_STATUSES:
            return  # PendingNew/PendingCancel/PendingReplace: the venue's answer is still to come
        keys = {msg.get(11), msg.get(379)} - {None}
        if msg.msg_type in ("3", "j") and msg.get(45):
            keys |= {c for c, seq in self.by_cl_ord_id.items() if str(seq) == msg.get(45)}
        for key in keys:
            if self.by_cl_ord_id.pop(str(key), 0) != 0:
                self.answered.set()

    async def wait_until_answered(self, seconds: float) -> None:
        """After piped input ends, give outstanding requests up to ``seconds`` to be answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.by_cl_ord_id and loop.time() < deadline:
            self.answered.clear()
            try:
                await asyncio.wait_for(self.answered.wait(), deadline - loop.time())
            except TimeoutError:
                break
        if not self.by_cl_ord_id:
            # a market order's fills follow its New within milliseconds: show them before logging out
            await asyncio.sleep(max(0.0, min(SETTLE_SECONDS, deadline - loop.time())))
        if self.by_cl_ord_id:
            console.print(f"[yellow]no answer within {seconds}s for: {' '.join(sorted(self.by_cl_ord_id))}[/yellow]")


if __name__ == "__main__":  # `python -m brokerage.commands.fix_client`, same as `brokerage fix-client`
    typer.run(fix_client)
