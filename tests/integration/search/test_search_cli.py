"""`brokerage search reindex|query` and `brokerage marketdata --help` through the real CLI app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis
from typer.testing import CliRunner

from brokerage.cli import app
from brokerage.settings import get_settings
from search.service import CACHE_PREFIX

if TYPE_CHECKING:
    from tests.conftest import TestServers


@pytest.fixture
def env(tmp_path: Path, test_servers: TestServers, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BROKERAGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BROKERAGE_REDIS_URL", test_servers.redis_url)
    monkeypatch.delenv("BROKERAGE_ELASTICSEARCH_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_reindex_builds_the_index_extends_it_and_clears_the_cache(env: Path, test_servers: TestServers) -> None:
    client = redis.Redis.from_url(test_servers.redis_url)
    client.set(CACHE_PREFIX + "10:ap", "[]")
    runner = CliRunner()
    result = runner.invoke(app, ["search", "reindex", "--extend-to", "3000"])
    assert result.exit_code == 0, result.output
    assert "indexed 3000 listings" in result.output and "1 cached results dropped" in result.output
    assert (env / "search" / "tantivy" / "meta.json").exists()
    assert client.get(CACHE_PREFIX + "10:ap") is None
    found = runner.invoke(app, ["search", "query", "appel", "--limit", "3"])
    assert found.exit_code == 0 and "AAPL" in found.output
    refused = runner.invoke(app, ["search", "query", "<>"])
    assert refused.exit_code == 1 and "error" in refused.output
    client.close()


@pytest.mark.parametrize("argv", [["search", "--help"], ["search", "reindex", "--help"], ["marketdata", "--help"]])
def test_help(argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0 and "Usage" in result.output
