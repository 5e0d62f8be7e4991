"""REST route for compliance reports: ``GET /v1/compliance/reports/{name}`` (compliance role only).

The REST API includes the router built here; it passes its own role check as a dependency, so this module
knows nothing of tokens::

    from audit.http import build_compliance_router
    app.include_router(build_compliance_router(require_compliance))

``require_compliance`` is any FastAPI dependency that raises (401/403) unless the caller may read
compliance reports. Reports run in the audit shipper (the only process that may open chdb), reached with
:class:`audit.client.ShipperClient`; pass another ``runner`` (anything with ``async run(ReportRequest)``) to
run them elsewhere, e.g. directly on a ClickHouse server.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from audit.client import ShipperClient
from audit.reports import ReportError, ReportRequest, csv_cell, report_names, result_to_json
from audit.sink import QueryResult, SinkUnavailable


class ReportRunner(Protocol):
    async def run(self, request: ReportRequest) -> QueryResult: ...


def result_to_csv(result: QueryResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result.columns)
    writer.writerows([csv_cell(v) for v in row] for row in result.rows)  # formula-looking text neutralised
    return out.getvalue()


def build_compliance_router(
    require_compliance: Callable[..., Any], runner: ReportRunner | None = None
) -> APIRouter:
    router = APIRouter(prefix="/v1/compliance", tags=["compliance"], dependencies=[Depends(require_compliance)])

    def _runner(request: Request) -> ReportRunner:
        if runner is not None:
            return runner
        settings = getattr(request.app.state, "settings", None)
        if settings is None:
            from brokerage.settings import get_settings

            settings = get_settings()
        # The caller's own token (already checked by require_compliance) is the shipper's credential too.
        _, _, token = request.headers.get("authorization", "").partition(" ")
        return ShipperClient.from_settings(settings, token=token.strip() or None)

    @router.get("/reports", summary="Names of the available compliance reports")
    async def list_reports() -> dict[str, list[str]]:
        return {"reports": report_names()}

    @router.get("/reports/{name}", summary="Run a compliance report over a period")
    async def compliance_report(
        http: Request,
        name: str,
        from_: str = Query(alias="from", description="Start of the period (ISO-8601, UTC if no offset)"),
        to: str = Query(description="End of the period, excluded (ISO-8601)"),
        account: str | None = Query(None, description="Only this account"),
        symbol: str | None = Query(None, description="Only this symbol"),
        format: Literal["json", "csv"] = Query("json", description="json (default) or csv"),
    ) -> Any:
        try:
            request = ReportRequest.parse(name, from_, to, account, symbol)
        except ReportError as exc:
            raise HTTPException(status_code=404 if "unknown report" in str(exc) else 422, detail=str(exc)) from exc
        try:
            result = await _runner(http).run(request)
        except ReportError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        except SinkUnavailable as exc:
            raise HTTPException(status_code=503, detail=f"audit store unavailable: {exc}") from exc
        if format == "csv":
            return Response(result_to_csv(result), media_type="text/csv")
        return {"report": name, **result_to_json(result)}

    return router
