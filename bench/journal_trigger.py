"""CPU of the journal's balance check: the per-line deferred trigger (migration 0002, in force) against a
statement-level trigger with a transition table (a candidate of ADR 031, installed here only), on a journal
that already holds rows.

    .venv/bin/python bench/journal_trigger.py [--existing 20000] [--statements 400] [--entries 8]

Two databases on one local server, both migrated to head, the second with the candidate trigger instead;
each gets ``--existing`` entries, then ``--statements`` statements of ``--entries`` balanced entries (3 lines
each, as a fill) are timed, and the server backend's CPU (from /proc) per entry is printed. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from brokerage.services import LocalServices, free_ports
from ledger import migrate

_STATEMENT = (
    "WITH je AS (INSERT INTO journal_entries (account_id, kind, reference) SELECT 'ACC-1', 'fill', r "
    "FROM unnest($1::text[]) AS r RETURNING entry_id) "
    "INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit, credit) "
    "SELECT je.entry_id, 'ACC-1', u.l, u.d, u.c FROM je, (VALUES ('cash:USD', 0, 10), ('securities:AAPL', 9, 0), "
    "('equity:fees', 1, 0)) AS u(l, d, c)")


# the candidate: one check per statement, over every entry its lines touch
_CANDIDATE = """
DROP TRIGGER journal_entry_balanced ON journal_lines;
CREATE FUNCTION candidate_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    bad record;
BEGIN
    ids := ARRAY(SELECT DISTINCT entry_id FROM new_lines);
    SELECT l.entry_id, sum(l.debit) AS debit, sum(l.credit) AS credit INTO bad
      FROM journal_lines l WHERE l.entry_id = ANY(ids)
     GROUP BY l.entry_id HAVING sum(l.debit) <> sum(l.credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad.entry_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER candidate_balanced AFTER INSERT ON journal_lines REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION candidate_entries_balanced();
"""


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(url: str, candidate: bool, args: argparse.Namespace) -> float:
    await asyncio.to_thread(migrate.upgrade, url)
    conn = await asyncpg.connect(url)
    try:
        if candidate:
            await conn.execute(_CANDIDATE)
        await conn.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('ACC-1', 'cash', 'x')")
        for start in range(0, args.existing, 500):
            await conn.execute(_STATEMENT, [f"old-{i}" for i in range(start, start + 500)])
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        before, n = _cpu(pid), 0
        for s in range(args.statements):
            async with conn.transaction():
                await conn.execute(_STATEMENT, [f"new-{s}-{i}" for i in range(args.entries)])
            n += args.entries
        return (_cpu(pid) - before) * 1000 / n
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-journal-trigger-"))
    os.chmod(root, 0o755)
    services = LocalServices(root, *free_ports(2), redis=False)
    try:
        services.start()
        assert services.postgres is not None
        base = services.postgres.url
        admin = await asyncpg.connect(base)
        for name in ("jt_old", "jt_new"):
            await admin.execute(f"CREATE DATABASE {name}")
        await admin.close()
        results = {}
        for label, name, candidate in (("per-line deferred trigger (in force)", "jt_old", False),
                                       ("statement trigger (candidate)", "jt_new", True)):
            url = base.rsplit("/", 1)[0] + "/" + name
            results[label] = await _run(url, candidate, args)
        for label, value in results.items():
            print(f"{label}: {value:.4f} ms backend CPU per entry (3 lines), {args.entries} entries a statement")
    finally:
        services.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=20000)
    parser.add_argument("--statements", type=int, default=400)
    parser.add_argument("--entries", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
