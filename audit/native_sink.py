"""clickhouse-driver adapter (native protocol) for a ClickHouse server: ``BROKERAGE_CLICKHOUSE_URL``.

Same DDL, same SQL: ``server_side_params`` makes the server bind ``{name:Type}`` placeholders exactly as
chdb does. Needs a modern server (DateTime64, window functions): ClickHouse 22.8 or later.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from clickhouse_driver import Client

from audit.retention import RetentionPolicy
from audit.rows import INSERT_COLUMNS
from audit.sink import INSERT_SQL, QueryResult, SinkUnavailable, apply_schema, columns_of

_CONVERTED = frozenset({"occurred_at", "event_id"})


def _typed(column: str, value: Any) -> Any:
    """A shipped (text) value as the Python type clickhouse-driver expects for the column."""
    if column == "occurred_at":
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if column == "event_id":
        return UUID(value)
    return value


def _python(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, UUID):
        return str(value)
    return value


class NativeSink:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()  # a clickhouse-driver Client is not safe across threads
        self._client = Client.from_url(url)
        self._client.client_settings["server_side_params"] = True

    def _execute(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return self._client.execute(sql, params, **kwargs)
            except Exception as exc:  # network errors, server errors: the caller retries
                self._client.disconnect()
                raise SinkUnavailable(str(exc).strip().splitlines()[0] if str(exc) else repr(exc)) from exc

    def ensure_schema(self, policy: RetentionPolicy) -> None:
        apply_schema(self, policy)

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.insert_columns(columns_of(rows))

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """A columnar insert (one list per column): clickhouse-driver writes each column in one go."""
        if not columns[INSERT_COLUMNS[0]]:
            return
        data = [[_typed(c, v) for v in columns[c]] if c in _CONVERTED else list(columns[c]) for c in INSERT_COLUMNS]
        self._execute(f"{INSERT_SQL} VALUES", data, columnar=True)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        rows, types = self._execute(sql, dict(params) if params else None, with_column_types=True)
        return QueryResult([name for name, _ in types], [tuple(_python(v) for v in row) for row in rows])

    def report(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """A report on a connection of its own: a long one does not hold the shipper's inserts behind the lock."""
        client = Client.from_url(self.url)
        client.client_settings["server_side_params"] = True
        try:
            rows, types = client.execute(sql, dict(params) if params else None, with_column_types=True)
        except Exception as exc:
            raise SinkUnavailable(str(exc).strip().splitlines()[0] if str(exc) else repr(exc)) from exc
        finally:
            client.disconnect()
        return QueryResult([name for name, _ in types], [tuple(_python(v) for v in row) for row in rows])

    def close(self) -> None:
        with self._lock:
            self._client.disconnect()
