"""`brokerage fix-client` driven through a pipe against the QuickFIX acceptor.

The command module runs as ``python -m brokerage.commands.fix_client`` (the same function the
`brokerage fix-client` entry point registers) so these tests do not depend on every other command
importing cleanly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from quickfix_echo import EchoAcceptor

pytestmark = pytest.mark.integration


def run_cli(acceptor: EchoAcceptor, data_dir: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "brokerage.commands.fix_client", "--port", str(acceptor.port), "--wait", "5",
               *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_piped_orders_are_sent_and_their_reports_shown(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    result = run_cli(acceptor, tmp_path, "buy 100 AAPL limit 190.50\n# a comment\n\nsell 5 MSFT\n")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "logged on as CLIENT1 -> BROKER" in out
    assert out.count("-> NewOrderSingle") == 2 and out.count("<- ExecutionReport") == 2
    assert "AAPL cum=0 leaves=100" in out and "MSFT cum=0 leaves=5" in out
    assert out.rstrip().endswith("logged out")
    orders = [m for m in acceptor.app.seen.app if "|35=D|" in m]
    assert len(orders) == 2 and "|44=190.50|" in orders[0] and "|40=1|" in orders[1]
    # sequence numbers survive for the next run, which therefore logs on without a reset
    assert (tmp_path / "fix-client" / "CLIENT1-BROKER.json").exists()
    again = run_cli(acceptor, tmp_path, "status {}\n".format(orders[0].split("|11=")[1].split("|")[0]))
    assert "logged on" in again.stdout and "MsgSeqNum too low" not in again.stdout
    assert "unknown ClOrdID" in again.stdout  # a new run does not know the last run's orders
    assert again.returncode == 1


def test_script_names_its_order_and_cancels_it(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    result = run_cli(acceptor, tmp_path, "buy 10 IBM @ 150 id T-1\nreplace T-1 qty 5\nstatus T-1\ncancel T-1\n")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr + "\n".join(acceptor.app.seen.app + acceptor.app.seen.admin)
    assert "-> NewOrderSingle T-1:" in out and "<- ExecutionReport T-1 New" in out
    assert "Replaced" in out and "OrderStatus" in out
    assert "Canceled status=Canceled orig=T-1" in out
    assert [m for m in acceptor.app.seen.app if "|35=F|" in m and "|41=T-1|" in m]


def test_bad_commands_exit_nonzero_with_a_clear_message(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    result = run_cli(acceptor, tmp_path, "buy lots AAPL\nfrobnicate\n")
    assert result.returncode == 1
    assert "quantity must be a number" in result.stdout and "unknown command 'frobnicate'" in result.stdout


def test_wrong_password_exits_3(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    result = run_cli(acceptor, tmp_path, "buy 1 AAPL\n", "--password", "nope", "--reset")
    assert result.returncode == 3
    assert "invalid password" in result.stdout


def test_nothing_listening_exits_2(tmp_path: Path) -> None:
    from brokerage.services import free_port

    env = {**os.environ, "BROKERAGE_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "brokerage.commands.fix_client", "--port", str(free_port())],
                            input="", capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 2 and "cannot connect" in result.stdout


def test_out_of_step_seq_nums_suggest_reset(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    store = tmp_path / "fix-client" / "CLIENT1-BROKER.json"
    store.parent.mkdir(parents=True)
    store.write_text('{"next_sender_seq_num": 1, "next_target_seq_num": 50}')  # we think the peer is further on
    result = run_cli(acceptor, tmp_path, "buy 1 AAPL\n")
    assert result.returncode == 3
    assert "MsgSeqNum too low" in result.stdout and "--reset" in result.stdout
    again = run_cli(acceptor, tmp_path, "buy 1 AAPL\n", "--reset")
    assert again.returncode == 0 and "<- ExecutionReport" in again.stdout
