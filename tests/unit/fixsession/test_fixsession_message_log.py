"""Password masking in FIX message logs and in FileStore bodies (ADR 008)."""

from __future__ import annotations

from pathlib import Path

from fixsession.message_log import mask_secrets, scrub_store_passwords


def _message(body: str) -> bytes:
    head = f"8=FIX.4.4\x019={len(body)}\x01".encode()
    raw = head + body.encode()
    return raw + b"10=%03d\x01" % (sum(raw) % 256)


def test_mask_secrets() -> None:
    assert mask_secrets("8=FIX.4.4\x0135=A\x01554=pw\x01925=new\x0110=1\x01") == (
        "8=FIX.4.4\x0135=A\x01554=***\x01925=***\x0110=1\x01")
    assert mask_secrets("8=FIX.4.4\x01355=1\x011554=x\x01") == "8=FIX.4.4\x01355=1\x011554=x\x01"


def test_scrub_keeps_length_and_a_valid_checksum(tmp_path: Path) -> None:
    logon = _message("35=A\x0134=1\x0149=GW\x0156=EX\x0198=0\x01108=30\x01554=secret-pw\x01")
    order = _message("35=D\x0134=2\x0149=GW\x0156=EX\x0111=ID1\x0158=text with 554= inside\x01")
    body = tmp_path / "FIX.4.4-GW-EX.body"
    body.write_bytes(order + logon + order)
    scanned = scrub_store_passwords(body)
    data = body.read_bytes()
    assert scanned == len(data) == 2 * len(order) + len(logon)
    assert b"secret-pw" not in data and b"554=*********\x01" in data
    assert data[: len(order)] == order and data[-len(order):] == order  # neighbours untouched
    stored = data[len(order) : len(order) + len(logon)]
    content = stored[: stored.index(b"\x0110=") + 1]
    assert int(stored[len(content) + 3 : len(content) + 6]) == sum(content) % 256
    # incremental: a later Logon appended after the scanned part is found too
    with body.open("ab") as f:
        f.write(logon)
    scrub_store_passwords(body, scanned)
    assert b"secret-pw" not in body.read_bytes()
