"""The pure parts of provisioning: input validation and what a poll of fix_sessions asks of the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.fix.live_sessions import LearnedRouter, diff_sessions, merged_accounts
from gateway.fix.sessions import ClientSession
from gateway.frontdoor.router import Backend, single_shard
from ledger.errors import LedgerInputError
from ledger.provisioning import (
    read_password_file,
    validate_account_id,
    validate_comp_id,
    validate_currency,
    validate_kind,
    validate_password,
)


def _row(comp_id: str, enabled: bool = True) -> ClientSession:
    return ClientSession(comp_id, "BROKER", "FIX.4.4", comp_id, "hash", enabled)


@pytest.mark.parametrize("value", ["ACC-1", "a", "X" * 32, "acc_1.b"])
def test_valid_account_ids(value: str) -> None:
    assert validate_account_id(value) == value


@pytest.mark.parametrize("value", ["", "-ACC", "ACC 1", "X" * 33, "ACC\x01", "ÄCC"])
def test_invalid_account_ids(value: str) -> None:
    with pytest.raises(LedgerInputError):
        validate_account_id(value)


@pytest.mark.parametrize("value", ["", "A B", "X" * 65, "A\x01"])
def test_invalid_comp_ids(value: str) -> None:
    with pytest.raises(LedgerInputError):
        validate_comp_id(value)


@pytest.mark.parametrize("value", ["short", " padded-pass", "padded-pass ", "new\x01password", "pässwörter", "x" * 129])
def test_invalid_passwords(value: str) -> None:
    with pytest.raises(LedgerInputError):
        validate_password(value)


def test_other_inputs(tmp_path: Path) -> None:
    assert validate_password("a b c d e") == "a b c d e"
    assert validate_currency("EUR") == "EUR"
    assert validate_kind("drop-copy") == "drop-copy"
    for bad in ("usd", "US", "USDX"):
        with pytest.raises(LedgerInputError):
            validate_currency(bad)
    with pytest.raises(LedgerInputError):
        validate_kind("admin")
    secret = tmp_path / "pw"
    secret.write_text("correct horse\nsecond line\n")
    assert read_password_file(secret) == "correct horse"
    secret.write_text("")
    with pytest.raises(LedgerInputError):
        read_password_file(secret)


def test_diff_new_disabled_enabled() -> None:
    rows = [_row("A"), _row("B", enabled=False), _row("C"), _row("D", enabled=False)]
    changes = diff_sessions(rows, served={"A", "B", "C"}, disabled={"C"})
    assert [s.sender_comp_id for s in changes.new] == ["D"]
    assert changes.disable == ("B",)
    assert changes.enable == ("C",)
    # steady state: nothing to do
    again = diff_sessions(rows, served={"A", "B", "C", "D"}, disabled={"B", "D"})
    assert (again.new, again.disable, again.enable) == ((), (), ())


def test_diff_respects_shard_ownership() -> None:
    changes = diff_sessions([_row("A"), _row("B")], served=set(), disabled=set(), owns=lambda c: c == "B")
    assert [s.sender_comp_id for s in changes.new] == ["B"]


def test_learned_router_keeps_the_base_routes() -> None:
    router = LearnedRouter.wrap(single_shard("127.0.0.1", 5000))
    assert LearnedRouter.wrap(router) is router
    router.learned["NEW"] = Backend("127.0.0.1", 6000)
    assert router.route("CLIENT1") == Backend("127.0.0.1", 5000)
    assert router.route("NEW") == Backend("127.0.0.1", 6000)


def test_accounts_merged_in_place() -> None:
    target = {"A": ("ACC-A", frozenset({"ACC-A"})), "GONE": ("X", frozenset({"X"}))}
    held = target
    fresh = {"A": ("ACC-B", frozenset({"ACC-A", "ACC-B"})), "NEW": ("N", frozenset({"N"}))}
    assert merged_accounts(target, fresh)
    assert held is target and target == fresh
    assert not merged_accounts(target, dict(fresh))
