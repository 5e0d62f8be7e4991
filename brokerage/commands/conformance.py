"""`brokerage conformance-server --port PORT`: the FIX acceptor in the acceptance-test profile.

Built by the same session-setup code as the gateway (``fixsession``), configured as QuickFIX's
FIX 4.4 acceptance suite expects: SenderCompID ISLD; sessions TW44, TW and
NO_CHECK_FIELDS_HAVE_VALUES (empty-value validation off); ResetOnLogon; FIX44.xml validation;
millisecond timestamps; the echo application (gateway.fix.echo). Test mode only.

Clients reach it the way they reach the gateway: through the FIX front door (gateway.frontdoor) on
``--port``, with QuickFIX on an internal loopback-only port. The front door runs the explicit
"conformance" policy: sessions come from this profile (static credentials, no password: the suite
sends none), a refused Logon is closed without a Logout (as QuickFIX does: the suite expects a bare
disconnect) and failed logons start no back-off (the suite logs on badly on purpose).
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from brokerage.logs import configure_logging
from brokerage.services import free_port
from brokerage.settings import get_settings
from fixsession.engine import Engine
from fixsession.loopback_guard import guard_acceptor
from fixsession.settings import Endpoint, SessionSpec
from gateway.fix.echo import EchoApplication
from gateway.fix.sessions import ClientSession
from gateway.frontdoor.credentials import StaticCredentials
from gateway.frontdoor.router import single_shard
from gateway.frontdoor.server import FrontDoor, FrontDoorConfig

COMP_ID = "ISLD"
SESSIONS = (
    SessionSpec(COMP_ID, "TW44"),
    SessionSpec(COMP_ID, "TW"),
    SessionSpec(COMP_ID, "NO_CHECK_FIELDS_HAVE_VALUES", validate_fields_have_values=False),
)


def conformance_endpoint(port: int, data_dir: Path) -> Endpoint:
    return Endpoint(name="conformance", role="acceptor", data_dir=data_dir, port=port, reset_on_logon=True)


def conformance_front_door(backend_port: int) -> FrontDoor:
    """The front door in the explicit conformance policy (see the module docstring)."""
    sessions = [ClientSession(sender_comp_id=s.target_comp_id, target_comp_id=s.sender_comp_id,
                              begin_string=s.begin_string, username=None, password_hash="", enabled=True)
                for s in SESSIONS]
    return FrontDoor(FrontDoorConfig(COMP_ID, reply_on_refusal=False, backoff=False),
                     StaticCredentials(sessions, profile="conformance"), single_shard("127.0.0.1", backend_port))


async def serve(port: int, data_dir: Path, host: str = "127.0.0.1") -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    backend_port = free_port()
    engine = Engine(conformance_endpoint(backend_port, data_dir), SESSIONS, EchoApplication(loop))
    engine.start()
    door = conformance_front_door(backend_port)
    try:
        guard_acceptor(backend_port)
        await door.listen(host, port)
        await stop.wait()
    finally:
        await door.close()
        await asyncio.to_thread(engine.stop, True)


def conformance_server(
    port: Annotated[int, typer.Option(help="TCP port of the front door (127.0.0.1)")],
    data_dir: Annotated[Path | None, typer.Option(
        help="where FIX stores/logs go (default: a fresh temporary directory)")] = None,
) -> None:
    """Run the FIX 4.4 acceptor in QuickFIX acceptance-test profile (echo application) until Ctrl-C."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="brokerage-conformance-") as scratch:
            asyncio.run(serve(port, Path(scratch)))
    else:
        asyncio.run(serve(port, data_dir))
