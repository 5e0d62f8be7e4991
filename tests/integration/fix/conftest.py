"""Fixtures: a freshly migrated database with provisioned client sessions, and the real gateway
process on free ports (see gateway_process.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gateway_process import GatewayProcess, seed_sessions


@pytest.fixture
def seeded_db(migrated_db_url: str) -> str:
    asyncio.run(seed_sessions(migrated_db_url))
    return migrated_db_url


@pytest.fixture
def gateway(seeded_db: str, tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(seeded_db, tmp_path)
    process.start()
    try:
        yield process
    finally:
        status = process.stop()
        assert status == 0, f"gateway exit status {status}:\n{process.log()}"
