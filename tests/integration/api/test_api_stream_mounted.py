"""The market-data WebSocket is mounted on the API app and shares its lifespan (hub closed at shutdown)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from brokerage.settings import Settings
from gateway.api.app import create_app

if TYPE_CHECKING:
    from tests.conftest import TestServers


def test_stream_websocket_is_mounted(migrated_db_url: str, test_servers: TestServers, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=migrated_db_url, redis_url=test_servers.redis_url, data_dir=tmp_path,
                              api_public_market_data=True))
    with TestClient(app) as http, http.websocket_connect("/v1/stream") as ws:
        ws.send_json({"action": "subscribe", "symbols": ["AAPL", "NOSUCHTICKER"]})
        error, subscribed = ws.receive_json(), ws.receive_json()
        assert error["type"] == "error" and error["code"] == "unknown_symbols"
        assert error["symbols"] == ["NOSUCHTICKER"]
        assert subscribed == {"type": "subscribed", "symbols": ["AAPL"], "subscriptions": ["AAPL"]}
    assert getattr(app.state, "stream_hub", None) is not None
