"""Sequence numbers kept in a small JSON file so a reconnecting client resumes where it left off."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SeqNumStore", "SeqNums", "StoreError"]


class StoreError(ValueError):
    """The store file exists but does not hold sequence numbers."""


@dataclass(frozen=True, slots=True)
class SeqNums:
    next_sender: int
    next_target: int


class SeqNumStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._last: SeqNums | None = None

    def load(self) -> SeqNums | None:
        """The saved numbers, or None when nothing was saved yet."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            seqs = SeqNums(int(data["next_sender_seq_num"]), int(data["next_target_seq_num"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path} is not a sequence-number store: {exc}") from exc
        if seqs.next_sender < 1 or seqs.next_target < 1:
            raise StoreError(f"{self.path} holds sequence numbers below 1: {seqs}")
        self._last = seqs
        return seqs

    def save(self, seqs: SeqNums) -> None:
        """Write atomically (temp file + rename); skip when nothing changed."""
        if seqs == self._last:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps({"next_sender_seq_num": seqs.next_sender,
                                   "next_target_seq_num": seqs.next_target}))
        os.replace(tmp, self.path)
        self._last = seqs
