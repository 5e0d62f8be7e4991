"""The ledger's commands end to end, as an operator runs them: db upgrade/current/downgrade, demo seed, token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from ledger import migrate
from ledger.credentials import hash_api_token

pytestmark = pytest.mark.integration


# The ledger's command groups mounted as in brokerage/cli.py, without importing every other package's commands.
RUNNER = """
import typer
from brokerage.commands import db, demo, token
app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")
app.add_typer(token.app, name="token")
app()
"""


def _brokerage(url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BROKERAGE_")}
    clean.update(BROKERAGE_DATABASE_URL=url, BROKERAGE_DATA_DIR=str(data_dir))
    return subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True,
                          env=clean, cwd=data_dir, timeout=120, check=False)


def _scalar(url: str, sql: str, *params: object) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def test_operator_flow(empty_db_url: str, tmp_path: Path) -> None:
    seed_before_schema = _brokerage(empty_db_url, tmp_path, "demo", "seed")
    assert seed_before_schema.returncode == 1 and "brokerage db upgrade" in seed_before_schema.stdout

    upgraded = _brokerage(empty_db_url, tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = _brokerage(empty_db_url, tmp_path, "db", "current").stdout
    assert all(head in current for head in migrate.head_revisions()), current

    first = _brokerage(empty_db_url, tmp_path, "demo", "seed")
    second = _brokerage(empty_db_url, tmp_path, "demo", "seed")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    token = first.stdout.strip().splitlines()[-1]
    assert token.startswith("brk_") and second.stdout.strip().splitlines()[-1] == token
    assert (tmp_path / "admin-token").read_text().strip() == token
    assert _scalar(empty_db_url, "SELECT count(*) FROM accounts") == 5
    assert _scalar(empty_db_url, "SELECT sum(amount) FROM cash_balances") == 3_200_000

    created = _brokerage(empty_db_url, tmp_path, "token", "create", "--role", "account", "--account", "ACC-CLIENT4",
                         "--label", "client 4 app")
    assert created.returncode == 0, created.stderr
    assert _scalar(empty_db_url, "SELECT label FROM api_tokens WHERE token_hash = %s",
                   hash_api_token(created.stdout.strip())) == "client 4 app"
    refused = _brokerage(empty_db_url, tmp_path, "token", "create", "--role", "account", "--account", "ACC-NOPE")
    assert refused.returncode == 1 and "ACC-NOPE" in refused.stderr

    assert _brokerage(empty_db_url, tmp_path, "db", "reconcile").returncode == 0
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("UPDATE cash_balances SET amount = amount + 1 WHERE account_id = 'ACC-CLIENT2'")
    broken = _brokerage(empty_db_url, tmp_path, "db", "reconcile")
    assert broken.returncode == 1 and "ACC-CLIENT2" in broken.stdout
    assert _brokerage(empty_db_url, tmp_path, "db", "reconcile", "--account", "ACC-CLIENT1").returncode == 0

    bad_revision = _brokerage(empty_db_url, tmp_path, "db", "downgrade", "nonsense")
    assert bad_revision.returncode == 1 and "nonsense" in bad_revision.stdout
    assert _brokerage(empty_db_url, tmp_path, "db", "downgrade", "base").returncode == 0
    assert _scalar(empty_db_url, "SELECT to_regclass('public.accounts')") is None


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    result = _brokerage("postgresql://nobody@127.0.0.1:1/none", tmp_path, "db", "upgrade")
    assert result.returncode == 1 and "error:" in result.stdout and "Traceback" not in result.stderr
