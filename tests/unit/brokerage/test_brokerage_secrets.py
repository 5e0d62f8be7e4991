"""Generated local secrets: created once, 0600 in a 0700 directory, shared by whoever reads the file."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from brokerage.secrets import exchange_password, load_or_create
from brokerage.settings import Settings


def test_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "exchange-gateway"
    first = load_or_create(path)
    assert len(first.get_secret_value()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create(path).get_secret_value() == first.get_secret_value()
    assert first.get_secret_value() not in repr(first)


def test_a_loose_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("value\n")
    path.chmod(0o644)
    assert load_or_create(path).get_secret_value() == "value"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_configured_password_wins_over_the_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, exchange_passwords={"GATEWAY": SecretStr("set")})
    assert exchange_password(settings, "GATEWAY").get_secret_value() == "set"
    generated = exchange_password(settings, "MDFEED")
    assert (tmp_path / "secrets" / "exchange-mdfeed").read_text().strip() == generated.get_secret_value()
    other = Settings(data_dir=tmp_path / "elsewhere", secrets_dir=tmp_path / "secrets")
    assert exchange_password(other, "MDFEED").get_secret_value() == generated.get_secret_value()
