"""The ClickHouse port: what the shipper, verifier and reports need, whichever engine runs the SQL.

Two adapters implement it with the same DDL (``audit/ddl.sql``) and the same SQL: ``ChdbSink`` (the engine
in-process, the local default) and ``NativeSink`` (clickhouse-driver, native protocol, when
``BROKERAGE_CLICKHOUSE_URL`` is set). Adapters are synchronous; async callers run them in a thread.
Queries take ``{name:Type}`` placeholders bound by the engine (server-side parameters), never formatted text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from audit.chain import Break, Head, verify
from audit.retention import RetentionPolicy, ttl_clause
from audit.rows import HASHED_COLUMNS, INSERT_COLUMNS

DDL_PATH = Path(__file__).with_name("ddl.sql")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
__all__ = ["INSERT_COLUMNS", "INSERT_SQL", "AuditSink", "QueryResult", "SinkUnavailable"]

# The shipper's insert, the same text for both adapters (each appends its data clause: FORMAT or VALUES).
# optimize_on_insert = 0: ReplacingMergeTree would otherwise collapse duplicate keys inside every inserted block,
# a sort-and-merge pass per insert (~17 % of chdb's insert CPU, docs/perf/audit.md) that cannot find anything:
# a batch holds each event once (the outbox's unique event id), and duplicates ACROSS inserts (a crash between
# insert and its record) were never collapsed at insert anyway -- the recovery and FINAL reads handle them.
INSERT_SQL = f"INSERT INTO audit_events ({', '.join(INSERT_COLUMNS)}) SETTINGS optimize_on_insert = 0"


class SinkUnavailable(RuntimeError):
    """ClickHouse could not be reached or refused the statement; the caller retries later."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class AuditSink(Protocol):
    def ensure_schema(self, policy: RetentionPolicy) -> None: ...

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """The shipper's insert: one equally long sequence per ``INSERT_COLUMNS`` name (no row objects)."""
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult: ...

    def report(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """A possibly long read (compliance reports), on a connection of its own so inserts are not held up."""
        ...

    def close(self) -> None: ...


def columns_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Rows as the columns ``insert_columns`` takes."""
    return {c: [row[c] for row in rows] for c in INSERT_COLUMNS}


def checked_identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"invalid ClickHouse database name {name!r}")
    return name


# Retention per table: the column whose age deletes a row (audit_orders: the order's first event, ddl.sql).
TTL_COLUMNS = {"audit_events": "occurred_at", "audit_fills": "occurred_at", "audit_orders": "first_at"}
_VIEW = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s+(SELECT\b.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A table fed by a materialized view over audit_events (ddl.sql): ``select`` is the view's query."""

    view: str
    table: str
    select: str

    def over_final(self) -> str:
        """The view's query over the whole trail as reports see it (duplicates collapsed): back-fill, verify."""
        return re.sub(r"\bFROM audit_events\b", "FROM audit_events FINAL", self.select)


def ddl_statements(policy: RetentionPolicy) -> list[str]:
    code = "\n".join(line for line in DDL_PATH.read_text().splitlines() if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in code.split(";") if s.strip()]
    return [*statements, *(f"ALTER TABLE {table} MODIFY TTL {ttl_clause(policy, column)}"
                           for table, column in TTL_COLUMNS.items())]


def report_tables() -> list[ReportTable]:
    return [ReportTable(*m.groups()) for s in ddl_statements(RetentionPolicy()) if (m := _VIEW.match(s))]


def apply_schema(sink: AuditSink, policy: RetentionPolicy) -> None:
    """Run ddl.sql (idempotent). A report table whose view does not exist yet (a new install, or an upgrade
    of a trail that predates it) is first back-filled from audit_events, then its view is created: nothing
    inserts while the schema is applied (the shipper starts after), and a back-fill interrupted by a crash is
    simply run again at the next start (the view still does not exist), its duplicates collapsing like any
    re-inserted event's."""
    views = {str(row[0]) for row in sink.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'").rows}
    for statement in ddl_statements(policy):
        view = _VIEW.match(statement)
        if view is not None and view.group(1) not in views:
            back_fill(sink, ReportTable(*view.groups()))
        sink.query(statement)


def back_fill(sink: AuditSink, table: ReportTable) -> None:
    """Insert the view's query over the whole trail into its table, in the table's key order: each inserted
    block is then a range of keys that no other part overlaps, so FINAL has nothing to merge (random order
    makes every part overlap every other, and FINAL merges them all at each read until background merges do)."""
    key = sink.query("SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND "
                     "name = {table:String}", {"table": table.table}).rows[0][0]
    # table, query and key from ddl.sql / system.tables of our own table, not from input
    sink.query(f"INSERT INTO {table.table} SELECT * FROM ({table.over_final()}) ORDER BY {key}")


def chain_heads(sink: AuditSink) -> dict[str, Head]:
    """The last (stream_seq, hash) of every stream, to continue the chains after a restart."""
    result = sink.query(
        "SELECT stream, max(stream_seq) AS n, argMax(hash, stream_seq) AS h FROM audit_events GROUP BY stream"
    )
    return {stream: Head(int(n), str(h)) for stream, n, h in result.rows}


def event_ids_since(sink: AuditSink, min_seq: int) -> set[str]:
    """Ids of events already in ClickHouse with outbox seq >= ``min_seq`` (inserted, maybe not recorded)."""
    result = sink.query(
        "SELECT DISTINCT toString(event_id) FROM audit_events WHERE seq >= {min_seq:UInt64}", {"min_seq": min_seq}
    )
    return {str(row[0]) for row in result.rows}


def chain_rows(sink: AuditSink, page: int = 100_000) -> Iterator[dict[str, Any]]:
    """Every row ordered by (stream, stream_seq), page by page (keyset pagination keeps memory flat)."""
    columns = ", ".join(("hash", *HASHED_COLUMNS))
    stream, seq = "", 0
    while True:
        result = sink.query(
            f"SELECT {columns} FROM audit_events FINAL "  # columns: a constant list, not input
            "WHERE (stream, stream_seq) > ({stream:String}, {seq:UInt64}) "
            "ORDER BY stream, stream_seq LIMIT {page:UInt64}",
            {"stream": stream, "seq": seq, "page": page},
        )
        yield from result.as_dicts()
        if len(result.rows) < page:
            return
        last = result.rows[-1]
        stream, seq = str(last[result.columns.index("stream")]), int(last[result.columns.index("stream_seq")])


def derived_mismatch(sink: AuditSink) -> Break | None:
    """The first row whose derived (MATERIALIZED) column no longer equals its expression over the payload.

    The expressions are read from the table's own schema, so this check follows the DDL without a copy.
    """
    columns = sink.query(
        "SELECT name, default_expression FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'audit_events' AND default_kind = 'MATERIALIZED' ORDER BY position"
    ).rows
    if not columns:
        return None
    tests = [(str(name), f"ifNull(toString({name}), '<null>') != ifNull(toString({expr}), '<null>')")
             for name, expr in columns]
    which = "multiIf(" + ", ".join(f"{test}, '{name}'" for name, test in tests) + ", '')"
    result = sink.query(  # names and expressions come from system.columns of our own table, not from input
        f"SELECT stream, stream_seq, toString(event_id), {which} FROM audit_events FINAL "
        f"WHERE {' OR '.join(test for _, test in tests)} ORDER BY stream, stream_seq LIMIT 1"
    )
    if not result.rows:
        return None
    stream, seq, event_id, column = result.rows[0]
    return Break(str(stream), int(seq), str(event_id), f"column {column} no longer matches the payload (modified)")


def report_table_mismatch(sink: AuditSink) -> Break | None:
    """The first report table that is not exactly its view's query over the verified trail.

    Both sides read FINAL and are compared as sets of rows in one pass (each row tagged with its side, grouped:
    a row found on one side only is a break), arrays sorted (a set of fills has no order), so a row missing,
    added or altered in a report table is found, and so is one a failed view insert left out (an insert into
    audit_events is not atomic with its views' inserts).
    """
    for table in report_tables():
        types = sink.query(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {table:String} "
            "ORDER BY position", {"table": table.table}).rows
        # column names from system.columns of our own table; the queries from ddl.sql: no input reaches the SQL
        columns = ", ".join(f"toString(arraySort({name})) AS c_{name}" if "Array(" in str(kind)
                            else f"toString({name}) AS c_{name}" for name, kind in types)
        names = ", ".join(f"c_{name}" for name, _ in types)
        result = sink.query(
            f"SELECT groupBitOr(found_in) AS sides, {names} FROM ("
            f"SELECT {columns}, 1 AS found_in FROM ({table.over_final()}) "
            f"UNION ALL SELECT {columns}, 2 AS found_in FROM {table.table} FINAL) "
            f"GROUP BY {names} HAVING sides != 3 LIMIT 1")
        if result.rows:
            sides, *values = result.rows[0]
            problem = ("a row of the trail is missing from the table" if sides == 1
                       else "a row not derived from the trail")
            row = ", ".join(str(v) for v in values)[:200]
            return Break(table.table, 0, "", f"{problem} ({row}); rebuild it: brokerage audit rebuild-report-tables")
    return None


def rebuild_report_tables(sink: AuditSink) -> list[str]:
    """Recompute every report table from audit_events (after a failed view insert, which verify reports); the
    tables rebuilt. Safe while the shipper inserts: a row both back-filled and fed by the view collapses like a
    re-inserted one. Reports read the table while it refills, so run it outside reporting hours."""
    rebuilt = []
    for table in report_tables():
        sink.query(f"TRUNCATE TABLE {table.table}")
        back_fill(sink, table)
        rebuilt.append(table.table)
    return rebuilt


def verify_trail(sink: AuditSink) -> tuple[int, Break | None]:
    """Recompute every chain, then check the derived columns and the report tables; (events checked, first
    break or None)."""
    checked, broken = verify(chain_rows(sink))
    return checked, broken or derived_mismatch(sink) or report_table_mismatch(sink)
