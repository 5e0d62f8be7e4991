"""PostgreSQL's work per order lifecycle by table, index, statement and trigger: rows, HOT updates, WAL.

    .venv/bin/python bench/order_path_pg_rows.py [--orders 2000] [--sessions 8] [--window 50] [--explain]

The set-up and flow of ``bench/order_path_cpu.py`` (IOC limit orders of one share, alternately buys and
sells, all filled), run once with ``pg_stat_statements`` loaded (the server is restarted with it after
start-up) and ``track_functions = 'pl'``. Around the measured run it reads, and prints per finished
lifecycle: WAL bytes (``pg_current_wal_lsn`` delta), WAL records and full-page images (``pg_stat_wal``),
rows inserted/updated/HOT-updated per table (``pg_stat_user_tables``), the written tables' indexes, the
trigger functions' time (``pg_stat_user_functions``) and the top statements by execution time with their
WAL bytes and buffers (``pg_stat_statements``). ``--explain``: after the run, EXPLAIN (ANALYZE, BUFFERS,
WAL) of the batch flush statement as the last batch with a fill ran it (inside a rolled-back
transaction). Per-process CPU is NOT measured here (the statistics cost a little): use order_path_cpu.py.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import order_path_cpu as cpu

TABLES = ("orders", "executions", "outbox", "journal_entries", "journal_lines", "cash_balances", "holdings",
          "order_cl_ord_ids", "accounts", "fix_inbound_marks", "client_report_marks", "fix_session_state")


class _Watched(cpu.LocalServices):  # type: ignore[misc, name-defined]
    current: _Watched | None = None
    connection_options: ClassVar[list[str]] = []
    perf_dwarf: ClassVar[bool] = False
    log_triggers: ClassVar[bool] = False

    def start(self) -> None:
        super().start()
        _Watched.current = self
        pg = self.postgres
        assert pg is not None
        if self.connection_options:  # every connection of the run (gateway's included) gets these settings
            options = quote(" ".join(f"-c {o}" for o in self.connection_options))

            class _WithOptions(type(pg)):  # type: ignore[misc]
                @property
                def url(self) -> str:
                    base: str = super().url
                    return f"{base}{'&' if '?' in base else '?'}options={options}"

            pg.__class__ = _WithOptions
        # --log-triggers: auto_explain logs every top-level statement's trigger calls (referential checks per
        # foreign key included: no statistics view counts those)
        libraries = "pg_stat_statements', 'auto_explain" if self.log_triggers else "pg_stat_statements"
        explain = ("ALTER SYSTEM SET auto_explain.log_min_duration = 0;\n"
                   "ALTER SYSTEM SET auto_explain.log_analyze = on;\n"
                   "ALTER SYSTEM SET auto_explain.log_timing = off;\n"
                   "ALTER SYSTEM SET auto_explain.log_triggers = on;\n") if self.log_triggers else ""
        out = pg._psql(f"ALTER SYSTEM SET shared_preload_libraries = '{libraries}';\n{explain}"
                       "ALTER SYSTEM SET track_functions = 'pl';\n"
                       "ALTER SYSTEM SET pg_stat_statements.track = 'all';\n"
                       "ALTER SYSTEM SET pg_stat_statements.track_planning = on;\n")
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        restart = pg._pg("pg_ctl", "-D", str(pg.pgdata), "-l", str(pg.logfile), "-m", "fast", "-w", "-t", "60",
                         "restart", timeout=90)
        if restart.returncode != 0:
            raise SystemExit(f"restart with pg_stat_statements failed: {restart.stderr}\n"
                             + pg.logfile.read_text(errors="replace")[-1500:])
        out = pg._psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;", "brokerage")
        if out.returncode != 0:
            raise SystemExit(out.stderr)


def _query(sql: str) -> list[list[str]]:
    services = _Watched.current
    assert services is not None and services.postgres is not None
    out = services.postgres._pg(
        "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-h", str(services.postgres.socket_dir), "-p",
        str(services.postgres.port), "-U", "postgres", "-d", "brokerage", "-v", "ON_ERROR_STOP=1", "-f", "-",
        stdin=sql)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def _snapshot() -> dict[str, Any]:
    lsn = _query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0]
    wal = _query("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")[0]
    tables = {r[0]: [int(x) for x in r[1:]] for r in _query(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE schemaname = 'public'")}
    functions = {r[0]: (int(r[1]), float(r[2]), float(r[3])) for r in _query(
        "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions")}
    return {"lsn": int(lsn), "wal": [int(wal[0]), int(wal[1]), int(wal[2])], "tables": tables,
            "functions": functions}


async def main(args: argparse.Namespace) -> None:
    drive, settle = cpu.drive, cpu.settle
    state: dict[str, Any] = {}
    if _Watched.connection_options:
        print("connection options: " + " ".join(_Watched.connection_options))

    async def drive_measured(sessions: list[object], orders: int, window: int) -> None:
        if orders == args.orders:
            _query("SELECT pg_stat_statements_reset(); SELECT pg_stat_clear_snapshot();")
            await asyncio.sleep(1.0)  # the statistics collector's flush interval
            state["before"] = _snapshot()
            _query("SELECT pg_stat_statements_reset();")
            state["measured"] = 1
            if _Watched.log_triggers:
                state["log_at"] = _log_size()
            if args.pg_perf:
                state["perf"] = _start_perf(args.pg_perf)
        await drive(sessions, orders, window)  # type: ignore[arg-type]

    async def settle_measured(sessions: list[object], seconds: float = 300) -> None:
        await settle(sessions, seconds)  # type: ignore[arg-type]
        if not state.pop("measured", 0):
            return
        perf = state.pop("perf", None)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(120)
        await asyncio.sleep(1.5)
        after = _snapshot()
        before = state["before"]
        n = max(1, sum(s.filled for s in sessions))  # type: ignore[attr-defined]
        print(f"\n{n} lifecycles measured")
        wal = [a - b for a, b in zip(after["wal"], before["wal"], strict=True)]
        print(f"WAL per lifecycle: {(after['lsn'] - before['lsn']) / n:.0f} bytes (lsn delta); "
              f"pg_stat_wal: {wal[0] / n:.2f} records, {wal[1] / n:.3f} full-page images, {wal[2] / n:.0f} bytes")
        print("rows per lifecycle:   table: inserted  updated  (HOT)  deleted")
        for table in TABLES:
            a, b = after["tables"].get(table), before["tables"].get(table)
            if a is None or b is None:
                continue
            d = [(x - y) / n for x, y in zip(a, b, strict=True)]
            if any(d):
                print(f"  {table:22s} {d[0]:6.3f} {d[1]:8.3f} {d[2]:7.3f} {d[3]:7.3f}")
        print("indexes of the written tables:")
        for r in _query("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND "
                        "tablename IN ('orders', 'executions', 'outbox', 'journal_entries', 'journal_lines', "
                        "'order_cl_ord_ids', 'cash_balances', 'holdings') ORDER BY 1, 2"):
            print(f"  {r[0]:16s} {r[2].split(' USING ')[1] if ' USING ' in r[2] else r[2]}  [{r[1]}]")
        print("trigger functions per lifecycle: calls, ms")
        for name, (calls, total, _self) in after["functions"].items():
            c0, t0, _ = before["functions"].get(name, (0, 0.0, 0.0))
            if calls - c0:
                print(f"  {name:32s} {(calls - c0) / n:6.3f} {(total - t0) / n:8.4f}")
        print("statements by execution time (per lifecycle: calls, exec ms, rows, WAL bytes, plans, plan ms, "
              "dirtied):")
        for r in _query(
                "SELECT calls, total_exec_time, rows, wal_bytes, plans, total_plan_time, shared_blks_dirtied, "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) FROM pg_stat_statements "
                "ORDER BY total_exec_time DESC LIMIT 14"):
            calls, exec_ms, rows, wal_b, plans, plan_ms, dirtied = (float(x) for x in r[:7])
            print(f"  {calls / n:6.3f} {exec_ms / n:7.4f} {rows / n:6.2f} {wal_b / n:7.0f} {plans / n:6.3f} "
                  f"{plan_ms / n:7.4f} {dirtied / n:6.2f}  {r[7]}")
        total = _query("SELECT sum(total_exec_time), sum(total_plan_time), sum(wal_bytes) FROM pg_stat_statements")[0]
        print(f"all statements: {float(total[0]) / n:.4f} ms executing, {float(total[1]) / n:.4f} ms planning, "
              f"{float(total[2]) / n:.0f} WAL bytes per lifecycle")
        if _Watched.log_triggers:
            print("trigger calls per lifecycle (auto_explain, top-level statements of the measured run):")
            for name, calls in sorted(_trigger_calls(state["log_at"]).items(), key=lambda kv: -kv[1]):
                print(f"  {calls / n:6.3f}  {name}")
        if args.explain:
            explain_flush()

    cpu.drive, cpu.settle = drive_measured, settle_measured  # type: ignore[assignment]
    cpu.LocalServices = _Watched  # type: ignore[attr-defined]
    await cpu.main(args)


def _log_size() -> int:
    services = _Watched.current
    assert services is not None and services.postgres is not None
    return int(services.postgres.logfile.stat().st_size)


_TRIGGER_LINE = re.compile(r"^\s*Trigger (.+?): (?:time=\S+ )?calls=(\d+)")


def _trigger_calls(offset: int) -> dict[str, int]:
    """Calls per trigger (``Trigger for constraint fk_...: calls=N``) in the server log after ``offset``."""
    services = _Watched.current
    assert services is not None and services.postgres is not None
    calls: dict[str, int] = {}
    with services.postgres.logfile.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            m = _TRIGGER_LINE.match(line)
            if m:
                calls[m[1]] = calls.get(m[1], 0) + int(m[2])
    return calls


def _start_perf(out: str) -> subprocess.Popen[bytes]:
    """perf record (on-CPU, call graphs) every process of the PostgreSQL server (its backends included)."""
    services = _Watched.current
    assert services is not None and services.postgres is not None
    root = services.postgres.pid()
    pids = [str(root)] + [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == root]
    graph = ["--call-graph", "dwarf,16384"] if _Watched.perf_dwarf else ["-g"]  # the binary has no frame pointers
    return subprocess.Popen(["perf", "record", "-F", "499", *graph, "-o", out, "-p", ",".join(pids)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def explain_flush() -> None:
    """EXPLAIN (ANALYZE, BUFFERS, WAL) of a fill batch's writes, shaped as the flush writes them: one
    filled order's row update, its report row, three outbox rows, a journal entry with lines."""
    order = _query("SELECT order_id, account_id FROM orders WHERE status = 'filled' ORDER BY created_at DESC "
                   "LIMIT 1")[0]
    sql = f"""
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF, TIMING OFF, SUMMARY OFF)
UPDATE orders SET cum_qty = cum_qty, status = status, updated_at = now() WHERE order_id = '{order[0]}';
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF, TIMING OFF, SUMMARY OFF)
INSERT INTO executions (exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, side,
  last_qty, last_px, cum_qty, leaves_qty, avg_px, transact_time, session_id, fix_fields)
SELECT 'Eexplain' || g, 'Vexplain' || g, '{order[0]}', '{order[1]}', 'trade', 'filled', 'AAPL', 'buy', 1, 1, 1,
  0, 1, now(), 'BENCH1', '[[35, "8"]]'::jsonb FROM generate_series(1, 10) g;
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF, TIMING OFF, SUMMARY OFF)
INSERT INTO outbox (event_id, event_type, account_id, payload) SELECT gen_random_uuid(), 'x', '{order[1]}',
  '{{"a": 1}}'::jsonb FROM generate_series(1, 10);
ROLLBACK;
"""
    print("EXPLAIN (ANALYZE, BUFFERS, WAL):")
    for r in _query(sql):
        print("  " + "\t".join(r))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--connection-option", action="append", default=[],
                        help="NAME=VALUE: a setting for every connection of the run (e.g. plan_cache_mode=...)")
    parser.add_argument("--pg-perf", default="", help="perf record PostgreSQL during the run into this file")
    parser.add_argument("--pg-perf-dwarf", action="store_true",
                        help="--pg-perf with DWARF call graphs (inclusive costs by caller; large files)")
    parser.add_argument("--log-triggers", action="store_true",
                        help="auto_explain every statement and count trigger calls per trigger/constraint (slow)")
    parsed = parser.parse_args()
    _Watched.log_triggers = parsed.log_triggers
    _Watched.connection_options = parsed.connection_option
    _Watched.perf_dwarf = parsed.pg_perf_dwarf
    for name, value in (("runs", 1), ("idle_seconds", 0.5), ("py_spy", ""), ("perf", ""), ("yappi", ""),
                        ("yappi_process", "gateway"), ("env", []), ("keep", False)):
        setattr(parsed, name, value)
    asyncio.run(main(parsed))
