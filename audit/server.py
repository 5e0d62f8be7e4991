"""The shipper's local HTTP endpoint: /health, /metrics, /reports/{name}, /verify (see audit.service)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from audit.pseudonyms import PseudonymStore
from audit.reports import ReportError, ReportRequest, report_names, result_to_json, run_report
from audit.sink import AuditSink, SinkUnavailable, verify_trail


def create_shipper_app(sink: AuditSink, pool: asyncpg.Pool | None) -> FastAPI:
    app = FastAPI(title="brokerage audit shipper", docs_url=None, redoc_url=None, openapi_url=None)
    names = PseudonymStore(pool) if pool is not None else None

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/reports")
    async def reports() -> dict[str, list[str]]:
        return {"reports": report_names()}

    @app.get("/reports/{name}")
    async def report(
        name: str,
        from_: str = Query(alias="from"),
        to: str = Query(),
        account: str | None = None,
        symbol: str | None = None,
    ) -> Any:
        try:
            request = ReportRequest.parse(name, from_, to, account, symbol)
            result = await run_report(sink, request, names)
        except ReportError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        except SinkUnavailable as exc:
            return JSONResponse({"detail": f"ClickHouse unavailable: {exc}"}, status_code=503)
        return result_to_json(result)

    @app.get("/verify")
    async def verify_chain() -> Any:
        try:
            checked, broken = await asyncio.to_thread(verify_trail, sink)
        except SinkUnavailable as exc:
            return JSONResponse({"detail": f"ClickHouse unavailable: {exc}"}, status_code=503)
        return {"checked": checked, "break": None if broken is None else {
            "stream": broken.stream, "stream_seq": broken.stream_seq, "event_id": broken.event_id,
            "problem": broken.problem,
        }}

    return app
