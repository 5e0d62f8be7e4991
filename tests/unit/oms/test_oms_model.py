"""Enumerations: FIX codes from the data dictionary, ledger words matching ledger.tables' constraints."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from enum import Enum
from pathlib import Path

import pytest

from gateway.oms.model import (
    BusinessRejectReason,
    CxlRejReason,
    CxlRejResponseTo,
    ExecType,
    OrdRejReason,
    OrdStatus,
    OrdType,
    Side,
    TimeInForce,
    UnknownCode,
)
from ledger.tables import orders

DICTIONARY = ET.parse(Path(__file__).parents[3] / "fix_specs" / "FIX44.xml")
TAGS: dict[type[Enum], int] = {Side: 54, OrdType: 40, TimeInForce: 59, OrdStatus: 39, ExecType: 150,
                               OrdRejReason: 103, CxlRejReason: 102, CxlRejResponseTo: 434,
                               BusinessRejectReason: 380}


def dictionary_codes(tag: int) -> set[str]:
    field = DICTIONARY.find(f".//fields/field[@number='{tag}']")
    assert field is not None
    return {value.attrib["enum"] for value in field.findall("value")}


@pytest.mark.parametrize("enum", list(TAGS))
def test_every_code_is_in_the_fix44_dictionary_and_round_trips(enum: type[Enum]) -> None:
    codes = dictionary_codes(TAGS[enum])
    for member in enum:
        assert str(member.value) in codes, member
        assert enum.from_fix(str(member.value)) is member  # type: ignore[attr-defined]
        assert enum.from_fix(member.value) is member  # type: ignore[attr-defined]
        assert enum.from_ledger(member.ledger) is member  # type: ignore[attr-defined]


def check_words(column: str) -> set[str]:
    for constraint in orders.constraints:
        text = str(getattr(constraint, "sqltext", ""))
        if text.startswith(f"{column} IN"):
            return set(re.findall(r"'([a-z_]+)'", text))
    raise AssertionError(f"no CHECK on orders.{column}")


@pytest.mark.parametrize(("enum", "column"), [(Side, "side"), (OrdType, "ord_type"),
                                               (TimeInForce, "time_in_force")])
def test_ledger_words_are_exactly_the_orders_table_constraint(enum: type[Enum], column: str) -> None:
    assert {m.ledger for m in enum} == check_words(column)  # type: ignore[attr-defined]


def test_open_statuses_match_the_ledger_open_orders_index() -> None:
    index = next(i for i in orders.indexes if i.name == "ix_orders_open")
    where = str(index.dialect_options["postgresql"]["where"])
    assert {s.ledger for s in OrdStatus if s.is_open} == set(re.findall(r"'([a-z_]+)'", where))


@pytest.mark.parametrize("bad", ["Z", "", None, 7, True, "buy"])
def test_unknown_fix_codes_are_refused_clearly(bad: object) -> None:
    with pytest.raises(UnknownCode, match="unsupported Side value"):
        Side.from_fix(bad)


def test_unknown_ledger_words_are_refused() -> None:
    with pytest.raises(UnknownCode):
        OrdStatus.from_ledger("done_for_day")
    with pytest.raises(UnknownCode):
        OrdStatus.from_ledger(None)
    assert OrdRejReason.from_fix("6") is OrdRejReason.DUPLICATE_ORDER
    with pytest.raises(UnknownCode):
        OrdRejReason.from_fix(True)
