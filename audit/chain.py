"""Tamper-evident hash chains over audit rows (pure).

One chain per STREAM, and the stream is the account pseudonym (``global`` for events without an account:
session logons of unknown users, market halts). Why per account rather than one global chain:
- a break is localised to one account's trail, and a compliance officer can verify one account alone;
- forgetting an account (GDPR) leaves its chain intact, since the chain is over the pseudonym;
- a sharded ClickHouse (by account pseudonym) keeps each chain inside one shard.

``hash = sha256(JSON array of prev_hash, stream, stream_seq, event_id, event_type, occurred_at, account,
payload)``: ``stream_seq`` runs 1, 2, 3 ... without gaps and ``prev_hash`` is the previous row's hash (64
zeros first), so a modified, deleted, inserted or reordered row breaks the chain at that row. The typed
columns are derived from ``payload`` by ClickHouse; ``audit.sink.verify_trail`` checks those too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from audit.rows import HASHED_COLUMNS, canonical

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Head:
    stream_seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Break:
    stream: str
    stream_seq: int
    event_id: str
    problem: str

    def __str__(self) -> str:
        return f"stream {self.stream} at #{self.stream_seq} (event {self.event_id}): {self.problem}"


def digest(row: Mapping[str, Any]) -> str:
    """sha256 hex over the hashed columns (the row must hold them in canonical form)."""
    return hashlib.sha256(orjson.dumps([row[column] for column in HASHED_COLUMNS])).hexdigest()


def link(rows: Iterable[dict[str, Any]], heads: Mapping[str, Head]) -> dict[str, Head]:
    """Append ``rows`` (in order) to their streams: sets ``stream_seq``, ``prev_hash``, ``hash`` on each row.

    Returns the heads after the batch (the input mapping is left untouched, so a failed insert can be retried
    from the old heads). :func:`link_columns` over the rows' columns (the shipper's path).
    """
    rows = list(rows)
    if not rows:
        return dict(heads)
    stream_seqs, prev_hashes, hashes, new_heads = link_columns(
        [r["stream"] for r in rows], [r["event_id"] for r in rows], [r["event_type"] for r in rows],
        [r["occurred_at"] for r in rows], [r["account"] for r in rows], [r["payload"] for r in rows], heads)
    for row, stream_seq, prev_hash, hashed in zip(rows, stream_seqs, prev_hashes, hashes, strict=True):
        row["stream_seq"], row["prev_hash"], row["hash"] = stream_seq, prev_hash, hashed
    return new_heads


def link_columns(
    streams: Sequence[str], event_ids: Sequence[str], event_types: Sequence[str], occurred: Sequence[str],
    accounts: Sequence[str], payloads: Sequence[str], heads: Mapping[str, Head],
) -> tuple[list[int], list[str], list[str], dict[str, Head]]:
    """Append a batch given as columns (the shipper's, no row dicts) to its streams: ``(stream_seqs,
    prev_hashes, hashes, heads after the batch)``. The loop is :func:`digest` inlined (it runs once per
    shipped event)."""
    tips: dict[str, tuple[int, str]] = {}
    dumps, sha256 = orjson.dumps, hashlib.sha256
    stream_seqs: list[int] = []
    prev_hashes: list[str] = []
    hashes: list[str] = []
    for stream, event_id, event_type, at, account, payload in zip(
        streams, event_ids, event_types, occurred, accounts, payloads, strict=True
    ):
        tip = tips.get(stream)
        if tip is None:
            head = heads.get(stream)
            tip = (0, GENESIS) if head is None else (head.stream_seq, head.hash)
        stream_seq = tip[0] + 1
        hashed = sha256(dumps([tip[1], stream, stream_seq, event_id, event_type, at, account, payload])).hexdigest()
        stream_seqs.append(stream_seq)
        prev_hashes.append(tip[1])
        hashes.append(hashed)
        tips[stream] = (stream_seq, hashed)
    new_heads = dict(heads)
    new_heads.update((stream, Head(*tip)) for stream, tip in tips.items())
    return stream_seqs, prev_hashes, hashes, new_heads


def verify(rows: Iterable[Mapping[str, Any]]) -> tuple[int, Break | None]:
    """Walk rows ordered by (stream, stream_seq); return (rows checked, the first break or None)."""
    checked = 0
    stream: str | None = None
    expected_seq, expected_prev = 1, GENESIS
    for raw in rows:
        try:
            row = {column: canonical(column, raw.get(column)) for column in HASHED_COLUMNS}
        except (ValueError, TypeError, ArithmeticError) as exc:  # a tampered value that no longer parses
            where = (str(raw.get("stream")), int(raw.get("stream_seq") or 0), str(raw.get("event_id")))
            return checked, Break(*where, f"unreadable row ({exc})")
        if row["stream"] != stream:
            stream, expected_seq, expected_prev = row["stream"], 1, GENESIS
        where = (row["stream"], row["stream_seq"], row["event_id"])
        if row["stream_seq"] != expected_seq:
            problem = "duplicated row" if row["stream_seq"] < expected_seq else f"row #{expected_seq} is missing"
            return checked, Break(*where, problem)
        if row["prev_hash"] != expected_prev:
            return checked, Break(*where, "prev_hash does not match the previous row's hash")
        actual = digest(row)
        if actual != str(raw.get("hash")):
            return checked, Break(*where, "row content does not match its hash (modified)")
        checked += 1
        expected_seq, expected_prev = expected_seq + 1, actual
    return checked, None
