from decimal import Decimal
from pathlib import Path

import pytest

from brokerage.settings import Settings


def test_toml_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "brokerage.toml"
    config.write_text('api_port = 8100\nfix_port = 9900\nmargin_initial_ratio = "0.40"\n')
    monkeypatch.setenv("BROKERAGE_CONFIG", str(config))
    monkeypatch.setenv("BROKERAGE_FIX_PORT", "9901")
    settings = Settings()
    assert settings.api_port == 8100  # from the file
    assert settings.fix_port == 9901  # the environment wins over the file
    assert settings.margin_initial_ratio == Decimal("0.40")


def test_local_servers_unless_urls_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERAGE_CONFIG", raising=False)
    monkeypatch.setenv("BROKERAGE_LOCAL_POSTGRES_PORT", "5999")
    local = Settings()
    assert local.uses_local_postgres and local.uses_local_redis
    assert local.effective_database_url.endswith("127.0.0.1:5999/brokerage")
    monkeypatch.setenv("BROKERAGE_DATABASE_URL", "postgresql://db.example/ledger")
    remote = Settings()
    assert not remote.uses_local_postgres
    assert remote.effective_database_url == "postgresql://db.example/ledger"


def test_bad_values_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERAGE_API_PORT", "not-a-port")
    with pytest.raises(ValueError, match="api_port"):
        Settings()
