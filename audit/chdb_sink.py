"""chdb adapter: the ClickHouse engine in this process, data under ``<data_dir>/audit/chdb``.

chdb allows ONE data directory per process (and one process per directory): the engine is opened once
(:func:`open_engine`) and every sink of this process shares it, each on its own database (tests use one
database per test). A lock serialises statements, since ``USE <db>`` is session state.

Reports (:meth:`ChdbSink.report`) run on a second session of the same engine under their own lock: chdb
runs the two sessions' queries concurrently, so a report that scans for minutes never holds the shipper's
inserts (which take the first session's lock) behind it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import chdb.session
import orjson

from audit.retention import RetentionPolicy
from audit.rows import INSERT_COLUMNS
from audit.sink import INSERT_SQL, QueryResult, SinkUnavailable, apply_schema, checked_identifier, columns_of

_engine_lock = threading.Lock()
_report_lock = threading.Lock()  # the report session's USE + query (reports queue among themselves only)
_engine: tuple[Path, Any] | None = None
_report_session: Any = None
_Session: Any = chdb.session.Session  # chdb ships no type hints
_READ_SETTINGS = "output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 1"


def open_engine(path: Path) -> Any:
    """The process's chdb session on ``path`` (opened once; another path in the same process is refused)."""
    global _engine
    path = path.resolve()
    with _engine_lock:
        if _engine is None:
            path.mkdir(parents=True, exist_ok=True)
            try:
                session = _Session(str(path))
                session.query(f"SET {_READ_SETTINGS}")  # exact decimals and 64-bit integers in JSON results
                _engine = (path, session)
                # Close before interpreter teardown: chdb's own global shutdown crashes (SIGSEGV,
                # "ShutdownTablesThreadPool is not initialized") when the session is still open then.
                atexit.register(close_engine)
            except Exception as exc:  # chdb raises plain RuntimeError variants
                raise SinkUnavailable(f"cannot open chdb at {path}: {exc}") from exc
        elif _engine[0] != path:
            raise SinkUnavailable(f"this process already owns chdb at {_engine[0]}; cannot also open {path}")
        return _engine[1]


def _open_report_session(path: Path) -> Any:
    """A second session on the engine for long reads (opened on first use)."""
    global _report_session
    open_engine(path)
    with _engine_lock:
        if _report_session is None:
            try:
                session = _Session(str(path.resolve()))
                session.query(f"SET {_READ_SETTINGS}")
            except Exception as exc:
                raise SinkUnavailable(f"cannot open a report session on chdb at {path}: {exc}") from exc
            _report_session = session
        return _report_session


def close_engine() -> None:
    """Close the process's chdb sessions, if open (idempotent)."""
    global _engine, _report_session
    with _report_lock, _engine_lock:
        if _report_session is not None:
            _report_session.close()
            _report_session = None
        if _engine is not None:
            _engine[1].close()
            _engine = None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _converter(ch_type: str) -> Callable[[str], Any] | None:
    """How to turn a JSONCompact value (decimals and 64-bit integers quoted) of this type into Python."""
    base = ch_type.removeprefix("Nullable(").removeprefix("LowCardinality(")
    if base.startswith("Decimal"):
        return Decimal
    if base.startswith(("Int", "UInt")):
        return int
    if base.startswith("DateTime"):
        return _utc
    return None


class ChdbSink:
    def __init__(self, path: Path, database: str = "audit") -> None:
        self.path = path
        self.database = checked_identifier(database)
        self._session: Any = open_engine(path)

    def _run(self, sql: str, params: Mapping[str, Any] | None = None, fmt: str = "CSV") -> Any:
        with _engine_lock:
            try:
                self._session.query(f"USE {self.database}")
                return self._session.query(sql, fmt, params=dict(params) if params else None)
            except Exception as exc:
                raise SinkUnavailable(str(exc).strip()) from exc

    def ensure_schema(self, policy: RetentionPolicy) -> None:
        with _engine_lock:
            try:
                self._session.query(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            except Exception as exc:
                raise SinkUnavailable(str(exc).strip()) from exc
        apply_schema(self, policy)

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.insert_columns(columns_of(rows))

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """One columnar JSON document per batch (``JSONCompactColumns``: an array per column), encoded by one
        orjson call: no per-row encoding in Python, and ClickHouse parses it column by column."""
        if not columns[INSERT_COLUMNS[0]]:
            return
        body = orjson.dumps([columns[c] for c in INSERT_COLUMNS])
        with _engine_lock:
            try:
                self._session.query(f"USE {self.database}")
                inserter = self._session.send_insert(INSERT_SQL, "JSONCompactColumns")
                inserter.append(body)
                inserter.finish()
            except Exception as exc:
                raise SinkUnavailable(str(exc).strip()) from exc

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return self._result(self._run(sql, params, "JSONCompact"))

    def report(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        session = _open_report_session(self.path)
        with _report_lock:
            try:
                session.query(f"USE {self.database}")
                raw = session.query(sql, "JSONCompact", params=dict(params) if params else None)
            except Exception as exc:
                raise SinkUnavailable(str(exc).strip()) from exc
        return self._result(raw)

    @staticmethod
    def _result(raw: Any) -> QueryResult:
        data = raw.bytes() if hasattr(raw, "bytes") else raw
        if not data or not str(data).strip():
            return QueryResult([], [])
        parsed = orjson.loads(data)
        meta = parsed["meta"]
        columns: list[list[Any]] = [list(c) for c in zip(*parsed["data"], strict=True)] or [[] for _ in meta]
        for i, m in enumerate(meta):
            convert = _converter(m["type"])
            if convert is not None:
                columns[i] = [None if v is None else convert(v) for v in columns[i]]
        return QueryResult([m["name"] for m in meta], list(zip(*columns, strict=True)))

    def close(self) -> None:
        """The engine stays open for the life of the process (chdb cannot reopen another path anyway)."""
