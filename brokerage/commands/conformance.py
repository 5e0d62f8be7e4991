"""`brokerage conformance-server --port PORT`: the FIX acceptor in the acceptance-test profile.

Built by the same session-setup code as the gateway (``fixsession``), configured as QuickFIX's
FIX 4.4 acceptance suite expects: SenderCompID ISLD; sessions TW44, TW and
NO_CHECK_FIELDS_HAVE_VALUES (empty-value validation off); ResetOnLogon; FIX44.xml validation;
millisecond timestamps; the echo application (gateway.fix.echo). Test mode only.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from brokerage.logs import configure_logging
from brokerage.settings import get_settings
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec
from gateway.fix.echo import EchoApplication

COMP_ID = "ISLD"
SESSIONS = (
    SessionSpec(COMP_ID, "TW44"),
    SessionSpec(COMP_ID, "TW"),
    SessionSpec(COMP_ID, "NO_CHECK_FIELDS_HAVE_VALUES", validate_fields_have_values=False),
)


def conformance_endpoint(port: int, data_dir: Path) -> Endpoint:
    return Endpoint(name="conformance", role="acceptor", data_dir=data_dir, port=port, reset_on_logon=True)


async def serve(port: int, data_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = Engine(conformance_endpoint(port, data_dir), SESSIONS, EchoApplication(loop))
    engine.start()
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(engine.stop, True)


def conformance_server(
    port: Annotated[int, typer.Option(help="TCP port to accept on (all interfaces)")],
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
