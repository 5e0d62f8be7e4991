"""Client of the shipper's local endpoint, used by the CLI and the REST API (which never open chdb)."""

from __future__ import annotations

from typing import Any

import httpx

from audit.reports import ReportError, ReportRequest, result_from_json
from audit.sink import QueryResult, SinkUnavailable


class ShipperClient:
    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Any) -> ShipperClient:
        return cls(f"http://{settings.audit_host}:{settings.audit_port}")

    async def is_up(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=0.5) as client:
                return (await client.get(f"{self.base_url}/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(f"{self.base_url}{path}", params=params)
        except httpx.HTTPError as exc:
            raise SinkUnavailable(f"audit shipper at {self.base_url} unreachable: {exc}") from exc
        body: dict[str, Any] = response.json()
        if response.status_code == 400:
            raise ReportError(body.get("detail", "bad request"))
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
