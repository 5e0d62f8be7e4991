"""Client of the shipper's local endpoint, used by the CLI and the REST API (which never open chdb)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx

from audit.reports import ReportError, ReportRequest, result_from_json
from audit.sink import QueryResult, SinkUnavailable


class AuditAccessDenied(SinkUnavailable):
    """The endpoint refused the credential (401/403): a compliance or admin token is needed."""


class ShipperClient:
    """``token``: a compliance or admin API token (the endpoint refuses anything else, ``/health`` aside)."""

    def __init__(self, base_url: str, timeout: float = 60.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    @classmethod
    def from_settings(cls, settings: Any, token: str | None = None) -> ShipperClient:
        """``token``, else ``BROKERAGE_AUDIT_TOKEN``, else the admin token in ``<data_dir>/admin-token``."""
        if token is None and getattr(settings, "audit_token", None) is not None:
            token = settings.audit_token.get_secret_value()
        if token is None:
            path = Path(settings.resolved_data_dir) / "admin-token"
            with contextlib.suppress(OSError):
                token = path.read_text().strip() or None
        return cls(f"http://{settings.audit_host}:{settings.audit_port}", token=token)

    async def is_up(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=0.5) as client:
                return (await client.get(f"{self.base_url}/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _get(self, path: str, params: dict[str, str] | None = None, method: str = "GET",
                   unbounded: bool = False) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=None if unbounded else self.timeout) as client:
                headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
                response = await client.request(method, f"{self.base_url}{path}", params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"audit shipper at {self.base_url} unreachable: {exc}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code in (400, 422):
            raise ReportError(body.get("detail", "bad request"))
        if response.status_code in (401, 403):
            raise AuditAccessDenied(f"the audit endpoint refused the credential ({response.status_code}): "
                                    "set BROKERAGE_AUDIT_TOKEN to a compliance or admin token")
        if response.status_code != 200:
            raise SinkUnavailable(body.get("detail", f"audit shipper answered {response.status_code}"))
        return body

    async def run(self, request: ReportRequest) -> QueryResult:
        params = {"from": request.from_ts.isoformat(), "to": request.to_ts.isoformat()}
        if request.account:
            params["account"] = request.account
        if request.symbol:
            params["symbol"] = request.symbol
        return result_from_json(await self._get(f"/reports/{request.name}", params))

    async def verify(self) -> dict[str, Any]:
        return await self._get("/verify")

    async def rebuild_report_tables(self) -> list[str]:
        # Minutes on a large trail (≈45 s of CPU per 10 M events): no client timeout.
        body = await self._get("/report-tables/rebuild", method="POST", unbounded=True)
        return list(body["rebuilt"])
