"""Opaque cursors for keyset pagination over ``(created_at, id)``, newest first (pure: no I/O).

A cursor is the base64url JSON of the last row's sort key. Keyset (not offset) pagination stays
correct while new orders and fills arrive: a page never repeats or skips a row.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class InvalidCursor(ValueError):
    pass


def _plain_id(value: object) -> bool:
    """What the ledger's id columns can hold: short text without control characters."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable()


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = json.dumps({"t": self.created_at.isoformat(), "id": self.id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(data, dict):
                raise TypeError("not an object")
            created_at = datetime.fromisoformat(data["t"])
            row_id = data["id"]
            if created_at.tzinfo is not None:
                created_at = created_at.astimezone(UTC)
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, OverflowError) as exc:
            raise InvalidCursor(f"not a cursor issued by this API: {token[:40]!r}") from exc
        if created_at.tzinfo is None or not _plain_id(row_id):
            raise InvalidCursor(f"not a cursor issued by this API: {token[:40]!r}")
        return cls(created_at, row_id)


@dataclass(frozen=True, slots=True)
class KeyCursor:
    """A cursor over a single text key (account ids), ascending."""

    after: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps({"k": self.after}).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> KeyCursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["k"]
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error, RecursionError) as exc:
            raise InvalidCursor(f"not a cursor issued by this API: {token[:40]!r}") from exc
        if not _plain_id(key):
            raise InvalidCursor(f"not a cursor issued by this API: {token[:40]!r}")
        return cls(key)
