"""Class-share symbology: every way of typing a symbol gives the canonical BRK-B form (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refdata.symbology import canonical_symbol, compact_symbol, share_class

parts = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=5)
separators = st.sampled_from([".", "-", "/", " ", "_", "..", " / ", "-."])


@pytest.mark.parametrize("typed", ["BRK.B", "BRK-B", "BRK/B", "BRK B", "brk.b", " brk_b ", "Brk / b", "BRK..B"])
def test_every_spelling_of_a_class_share_is_brk_b(typed: str) -> None:
    assert canonical_symbol(typed) == "BRK-B"
    assert compact_symbol(typed) == "BRKB"


def test_plain_and_preferred_symbols() -> None:
    assert canonical_symbol("aapl") == "AAPL"
    assert canonical_symbol("RF-PB") == "RF-PB"
    assert share_class("BRK-B") == "B" and share_class("BF.B") == "B" and share_class("MOG-A") == "A"
    assert share_class("AAPL") is None and share_class("RF-PB") is None and share_class("") is None


@given(st.lists(parts, min_size=1, max_size=3), st.lists(separators, min_size=2, max_size=2))
def test_separators_do_not_matter(pieces: list[str], seps: list[str]) -> None:
    dotted = ".".join(pieces)
    other = pieces[0] + "".join(seps[i % 2] + p for i, p in enumerate(pieces[1:]))
    assert canonical_symbol(other) == canonical_symbol(dotted) == "-".join(pieces)
    assert canonical_symbol(f" {other.lower()} ") == canonical_symbol(dotted)


@given(st.text(max_size=20))
def test_canonical_form_is_idempotent_upper_case_and_hyphen_separated(text: str) -> None:
    once = canonical_symbol(text)
    assert canonical_symbol(once) == once
    assert once == once.upper() or not once.isascii()
    assert "--" not in once and not once.startswith("-") and not once.endswith("-")
    assert compact_symbol(text) == once.replace("-", "")
