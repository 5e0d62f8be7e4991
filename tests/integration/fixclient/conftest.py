"""A QuickFIX echo acceptor per test on a free port (see quickfix_echo.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from quickfix_echo import EchoAcceptor

from brokerage.services import free_port


@pytest.fixture
def acceptor(tmp_path: Path) -> Iterator[EchoAcceptor]:
    echo = EchoAcceptor(tmp_path / "acceptor", free_port())
    echo.start()
    try:
        yield echo
    finally:
        echo.stop()
        assert echo.app.seen.errors == [], echo.app.seen.errors
