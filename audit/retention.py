"""Retention tiers as a ClickHouse TTL clause (pure).

Policy: rows stay on the default (hot) volume for ``hot_days``, then move to ``cold_volume`` (a volume of the
server's storage policy) and are deleted after ``retention_days``. SEC 17a-4 asks for six years of order
records, hence the 7-year default. The clause is built from validated integers and an identifier checked
against a strict pattern, so no configured text reaches SQL unchecked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VOLUME_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    retention_days: int = 2555
    hot_days: int | None = None
    cold_volume: str | None = None

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if (self.hot_days is None) != (self.cold_volume is None):
            raise ValueError("hot_days and cold_volume go together (move to the cold volume after hot_days)")
        if self.hot_days is not None and not 0 < self.hot_days < self.retention_days:
            raise ValueError("hot_days must be between 1 and retention_days - 1")
        if self.cold_volume is not None and not VOLUME_NAME.match(self.cold_volume):
            raise ValueError(f"invalid volume name {self.cold_volume!r}")


def ttl_clause(policy: RetentionPolicy, column: str = "occurred_at") -> str:
    """The expression list for ``ALTER TABLE <table> MODIFY TTL <clause>``, rows aged by ``column`` (a name
    from ``audit.sink.TTL_COLUMNS``, not configuration)."""
    base = f"toDateTime({column})"
    parts = []
    if policy.hot_days is not None:
        parts.append(f"{base} + INTERVAL {int(policy.hot_days)} DAY TO VOLUME '{policy.cold_volume}'")
    parts.append(f"{base} + INTERVAL {int(policy.retention_days)} DAY DELETE")
    return ", ".join(parts)
