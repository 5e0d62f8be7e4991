"""The shipper's local HTTP endpoint: /health, /metrics, /reports/{name}, /verify, POST /report-tables/rebuild
(see audit.service).

Everything but ``/health`` needs ``Authorization: Bearer <token>`` with a live **compliance or admin** REST API
token, checked against the same token store as the REST API (PostgreSQL ``api_tokens``: hashed, expiring,
revocable). The REST API forwards the caller's own token (it has already checked the role); the CLI sends
``BROKERAGE_AUDIT_TOKEN`` or the admin token from ``var/admin-token``. A shared secret between API and shipper
was the alternative; it would be one more secret to generate, store and rotate, it would let any holder
read every report without an audit of who, and it would not be revoked with the person's token.

Reports run on the sink's report connection in a small thread pool of their own, so a long report neither
holds the shipper's inserts nor takes the threads they run in (see ``audit.chdb_sink``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Header, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from audit.pseudonyms import PseudonymStore
from audit.reports import ReportError, ReportRequest, report_names, result_to_json, run_report
from audit.retention import RetentionPolicy
from audit.sink import AuditSink, QueryResult, SinkUnavailable, rebuild_report_tables, verify_trail
from ledger.api_tokens import active_role

AUDIT_ROLES = frozenset({"compliance", "admin"})
REPORT_THREADS = 2
PROBLEM = "application/problem+json"


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _problem(status: int, title: str, detail: str, **headers: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


class _ReportReads:
    """The sink with every read on its report connection: verification reads the whole trail."""

    def __init__(self, sink: AuditSink) -> None:
        self._sink = sink

    def ensure_schema(self, policy: RetentionPolicy) -> None:
        self._sink.ensure_schema(policy)

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._sink.insert(rows)

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        self._sink.insert_columns(columns)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return self._sink.report(sql, params)

    def report(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return self._sink.report(sql, params)

    def close(self) -> None:
        """The wrapped sink is closed by its owner."""


def create_shipper_app(sink: AuditSink, pool: asyncpg.Pool | None) -> FastAPI:
    app = FastAPI(title="brokerage audit shipper", docs_url=None, redoc_url=None, openapi_url=None)
    names = PseudonymStore(pool) if pool is not None else None
    report_threads = ThreadPoolExecutor(REPORT_THREADS, thread_name_prefix="audit-report")
    app.state.report_threads = report_threads

    async def credential(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refused(401, "Send 'Authorization: Bearer <token>' (a compliance or admin API token).")
        if pool is None:  # fail closed: without the token store nobody is let in
            raise _Refused(503, "The token store (PostgreSQL) is not configured.")
        role = await active_role(pool, token.strip())
        if role is None:
            raise _Refused(401, "Invalid, expired or revoked token.")
        if role not in AUDIT_ROLES:
            raise _Refused(403, "The audit endpoint needs a compliance or admin token.")

    @app.exception_handler(_Refused)
    async def _on_refused(_request: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, _Refused)
        extra = {"WWW-Authenticate": 'Bearer realm="brokerage-audit"'} if exc.status == 401 else {}
        return _problem(exc.status, "Refused" if exc.status != 503 else "Unavailable", exc.detail, **extra)

    guarded = [Depends(credential)]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", dependencies=guarded)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/reports", dependencies=guarded)
    async def reports() -> dict[str, list[str]]:
        return {"reports": report_names()}

    @app.get("/reports/{name}", dependencies=guarded)
    async def report(
        name: str,
        from_: str = Query(alias="from"),
        to: str = Query(),
        account: str | None = None,
        symbol: str | None = None,
    ) -> Any:
        try:
            request = ReportRequest.parse(name, from_, to, account, symbol)
            result = await run_report(sink, request, names, report_threads)
        except ReportError as exc:
            return _problem(422, "Invalid report request", str(exc))
        except SinkUnavailable as exc:
            return _problem(503, "Unavailable", f"ClickHouse unavailable: {exc}")
        return result_to_json(result)

    @app.get("/verify", dependencies=guarded)
    async def verify_chain() -> Any:
        try:
            checked, broken = await asyncio.get_running_loop().run_in_executor(
                report_threads, verify_trail, _ReportReads(sink))
        except SinkUnavailable as exc:
            return _problem(503, "Unavailable", f"ClickHouse unavailable: {exc}")
        return {"checked": checked, "break": None if broken is None else {
            "stream": broken.stream, "stream_seq": broken.stream_seq, "event_id": broken.event_id,
            "problem": broken.problem,
        }}

    @app.post("/report-tables/rebuild", dependencies=guarded)
    async def rebuild() -> Any:
        # On the report connection, like verify: the shipper's inserts go on meanwhile (ADR 043).
        try:
            rebuilt = await asyncio.get_running_loop().run_in_executor(
                report_threads, rebuild_report_tables, _ReportReads(sink))
        except SinkUnavailable as exc:
            return _problem(503, "Unavailable", f"ClickHouse unavailable: {exc}")
        return {"rebuilt": rebuilt}

    return app
