"""`brokerage api`: the REST API under uvicorn (uvloop) on the configured host and port."""

from __future__ import annotations

import typer
import uvicorn

from brokerage.logs import configure_logging
from brokerage.settings import get_settings
from gateway.api.app import create_app


def api(
    host: str | None = typer.Option(None, help="Listen address (default: BROKERAGE_API_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Listen port (default: BROKERAGE_API_PORT, 8000)."),
) -> None:
    """Serve the broker REST API (OpenAPI docs at /docs; /health, /ready, /metrics)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    config = uvicorn.Config(
        create_app(settings), host=host or settings.api_host, port=port or settings.api_port, loop="uvloop",
        log_config=None, access_log=False, proxy_headers=False, server_header=False,
    )
    uvicorn.Server(config).run()
