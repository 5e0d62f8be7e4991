"""``crack`` reads what the split of ``toString()`` reads: the first occurrence of a tag, values with '=' whole."""

from __future__ import annotations

import quickfix as fix

from exchange import fix_codec as exchange_codec
from gateway.oms.fix_codec import crack


def _split(raw: str) -> dict[str, str]:
    """Split on SOH, tag up to the first '=', the first occurrence of a tag winning."""
    out: dict[str, str] = {}
    for part in raw.split("\x01"):
        tag, _, value = part.partition("=")
        if part and tag not in out:
            out[tag] = value
    return out


def test_same_fields_as_the_split() -> None:
    # a body field before a group holding the same tag, '=' inside a value, an empty value
    message = fix.Message("35=8\x0111=C1\x0158=x=y==\x01453=2\x01448=P1\x01448=P2\x0117=\x01", False)
    message.getHeader().setField(49, "EXCHANGE")
    raw = message.toString()
    assert crack(message) == _split(raw) | {"": ""}  # the text ends with SOH: one empty part
    assert crack(message)["58"] == "x=y==" and crack(message)["448"] == "P1" and crack(message)["17"] == ""
    cracked = exchange_codec.crack(message)
    assert isinstance(cracked, exchange_codec._Cracked) and cracked.fields == _split(raw) | {"": ""}


def test_a_data_field_is_read_through_the_binding() -> None:
    message = fix.Message("35=8\x0111=C1\x01", False)
    message.setField(95, "3")
    message.setField(96, "a\x01b")  # RawData may hold SOH: the text cannot be split
    assert crack(message)["11"] == "C1" and "96" not in crack(message)
    assert exchange_codec.crack(message) is message
