"""`brokerage api --workers 2`: two worker processes serve the one port, each a whole app (token still required)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil

from brokerage.services import free_port

if TYPE_CHECKING:
    from tests.conftest import TestServers

REPO = Path(__file__).resolve().parents[3]


def test_two_workers_serve_the_api_and_require_a_token(
    test_servers: TestServers, migrated_db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = dict(os.environ, BROKERAGE_DATABASE_URL=migrated_db_url, BROKERAGE_REDIS_URL=test_servers.redis_url,
               BROKERAGE_DATA_DIR=str(tmp_path), BROKERAGE_API_PUBLIC_MARKET_DATA="false")
    log = (tmp_path / "api.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "brokerage.cli", "api", "--workers", "2", "--port", str(port)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while True:
            assert process.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.3)
        workers = [p for p in psutil.Process(process.pid).children(recursive=True) if "python" in p.name().lower()]
        assert len(workers) >= 2
        for _ in range(4):  # fresh connections: whichever worker takes one checks the token
            answer = httpx.get(f"http://127.0.0.1:{port}/v1/search", params={"q": "ford"}, timeout=5)
            assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
    finally:
        process.terminate()
        process.wait(30)
        log.close()
