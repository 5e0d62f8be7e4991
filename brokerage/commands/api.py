"""`brokerage api`: the REST API under uvicorn (uvloop, httptools) on the configured host and port,
in one or more worker processes."""

from __future__ import annotations

import os

import typer
import uvicorn
from fastapi import FastAPI

from brokerage.logs import configure_logging
from brokerage.settings import get_settings
from gateway.api.app import create_app


def api(
    host: str | None = typer.Option(None, help="Listen address (default: BROKERAGE_API_HOST, 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Listen port (default: BROKERAGE_API_PORT, 8000)."),
    workers: int | None = typer.Option(
        None, min=0, help="Worker processes sharing the port (default: BROKERAGE_API_WORKERS, 1; 0: one per CPU)."
    ),
) -> None:
    """Serve the broker REST API (OpenAPI docs at /docs; /health, /ready, /metrics)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    count = api_worker_count(settings.api_workers if workers is None else workers)
    options = dict(
        host=host or settings.api_host, port=port or settings.api_port, loop="uvloop", http="httptools",
        log_config=None, access_log=False, proxy_headers=False, server_header=False,
    )
    if count == 1:
        uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()  # type: ignore[arg-type]
    else:  # each worker process builds its own app (its own DB pool, Redis client and search index reader)
        uvicorn.run("brokerage.commands.api:worker_app", factory=True, workers=count, **options)  # type: ignore[arg-type]


def api_worker_count(configured: int) -> int:
    return configured if configured > 0 else max(1, os.cpu_count() or 1)


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (settings from the same environment as the parent)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
