"""Long FIX fuzz run against the gateway's public FIX port (ADR 007).

    .venv/bin/python bench/fuzz_fix.py --frames 1000000 [--seed N] [--workers 1] [--per-connection 2000]
    .venv/bin/python bench/fuzz_fix.py --port 9876 --session CLIENT1:demo1 ...   # a gateway already running

Without ``--port`` it starts its own PostgreSQL and Redis (temp dir), provisions ``--sessions`` FIX sessions
and runs ``brokerage gateway --no-exchange-link`` (default limits) on a free port: ``settings.fix_port``,
which is the front door once it is merged. Then it throws seeded garbled, truncated, oversized and mutated
frames over many connections (``tests/fuzz/fix_fuzz.py``), logged on and not, and checks after each
connection that a probe is answered or the connection closed within ``--answer-timeout`` seconds.

Prints progress every 10 s and the figures at the end: frames, connections, answered/closed, hangs,
crashes (the gateway process exited), resident memory first/last/max. Exit status 1 on a crash or a hang.
Without a front door, QuickFIX holds its engine thread on a partial first message (issue 9), so use one
worker there; the pre-logon hangs it reports are that known defect.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fuzz"))

from fix_fuzz import Figures, WireFuzzer  # noqa: E402


async def provision(url: str, sessions: int) -> dict[str, str]:
    import asyncpg

    from ledger.provisioning import ensure_fix_session
    from ledger.repository import LedgerRepository

    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    passwords = {}
    try:
        repo = LedgerRepository(pool)
        for n in range(1, sessions + 1):
            account = f"ACC-FUZZ{n}"
            await repo.open_account(account, "cash", f"Fuzz {n}")
            await ensure_fix_session(pool, f"FUZZ{n}", f"fuzz-{n}", [account])
            passwords[f"FUZZ{n}"] = f"fuzz-{n}"
    finally:
        await pool.close()
    return passwords


def progress(figures: Figures) -> None:
    print(figures.summary(), flush=True)


def run(args: argparse.Namespace, port: int, sessions: dict[str, str], pid: int | None,
        alive: object) -> Figures:
    fuzzer = WireFuzzer(port, sessions, frames_per_connection=args.per_connection, answer_timeout=args.answer_timeout,
                        max_size=args.max_size, alive=alive if callable(alive) else (lambda: True), pid=pid)
    return fuzzer.run(args.frames, args.seed, on_progress=progress, workers=args.workers)


def main(args: argparse.Namespace) -> int:
    if args.port:
        sessions = dict(item.split(":", 1) for item in args.session)
        figures = run(args, args.port, sessions, args.pid, None)
        print("final:", figures.summary(), figures.hang_samples)
        return 1 if figures.crashes or figures.hangs else 0

    from brokerage.services import LocalServices, free_port, free_ports, wait_until_listening
    from ledger import migrate

    root = Path(tempfile.mkdtemp(prefix="bench-fuzz-fix-"))
    os.chmod(root, 0o755)
    services = LocalServices(root, *free_ports(2))
    gateway: subprocess.Popen[bytes] | None = None
    try:
        services.start()
        assert services.postgres is not None and services.redis is not None
        url = services.postgres.url
        migrate.upgrade(url)
        sessions = asyncio.run(provision(url, args.sessions))
        fix_port = free_port()
        data = root / "gateway"
        data.mkdir()
        env = {**os.environ, "BROKERAGE_DATABASE_URL": url, "BROKERAGE_REDIS_URL": services.redis.url,
               "BROKERAGE_FIX_PORT": str(fix_port), "BROKERAGE_DATA_DIR": str(data), "BROKERAGE_LOG_LEVEL": "WARNING",
               "BROKERAGE_FIX_TARGET_COMP_ID": "BROKER"}
        log_path = data / "gateway.log"
        with log_path.open("wb") as log:
            gateway = subprocess.Popen([sys.executable, "-m", "brokerage.commands.gateway", "--no-exchange-link"],
                                       cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_listening(fix_port, gateway, "gateway", timeout=60, log=log_path)
        print(f"gateway pid {gateway.pid} on 127.0.0.1:{fix_port}; {len(sessions)} sessions; seed {args.seed}; "
              f"{args.workers} worker(s)", flush=True)
        process = gateway
        figures = run(args, fix_port, sessions, gateway.pid, lambda: process.poll() is None)
        print("final:", figures.summary(), figures.hang_samples, flush=True)
        if gateway.poll() is not None:
            print(f"gateway exited with {gateway.returncode}; log tail:\n"
                  f"{log_path.read_text(errors='replace')[-3000:]}")
        return 1 if figures.crashes or figures.hangs else 0
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(20)
            except subprocess.TimeoutExpired:
                gateway.kill()
        services.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--per-connection", type=int, default=2000)
    parser.add_argument("--answer-timeout", type=float, default=15.0)
    parser.add_argument("--max-size", type=int, default=65_536)
    parser.add_argument("--port", type=int, help="fuzz a gateway already listening here")
    parser.add_argument("--session", action="append", default=[], help="COMPID:PASSWORD (with --port)")
    parser.add_argument("--pid", type=int, help="the running gateway's pid (with --port), for RSS")
    sys.exit(main(parser.parse_args()))
