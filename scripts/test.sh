#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, the FIX 4.4 conformance suite (QuickFIX acceptance tests
# against our acceptor), then unit + integration tests (the test setup starts its own PostgreSQL and
# Redis on free loopback ports). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "== ruff"
.venv/bin/ruff check .

# mypy (CPU-bound, one process) runs while the conformance suite (mostly waiting on sockets) does; its
# output is printed, and its failure fails the run, before pytest starts.
mypy_out=$(mktemp)
.venv/bin/mypy brokerage gateway ledger marketdata search audit exchange refdata fixsession fixclient migrations \
    > "$mypy_out" 2>&1 &
mypy_pid=$!

echo "== FIX 4.4 conformance (QuickFIX acceptance suite)"
# The suite connects to the conformance server's FIX front door on $port (what clients reach); QuickFIX
# listens behind it on an internal loopback-only port.
# CI clones the repository with shared/ beside it.
shared=${BROKERAGE_SHARED_DIR:-$(cd .. && pwd)/shared}
conformance_dir=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/brokerage conformance-server --port "$port" --data-dir "$conformance_dir" \
    > "$conformance_dir/server.log" 2>&1 &
server_pid=$!
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
trap 'stop_server; kill "$mypy_pid" 2>/dev/null || true; rm -rf "$conformance_dir" "$mypy_out"' EXIT
# fixat waits ~30 s for the server; on a busy machine (mypy beside it, other jobs) start-up can take longer,
# so wait here for the port (up to 3 minutes, or until the server exits) before starting the suite.
for _ in $(seq 360); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "conformance server exited; log tail:"
        tail -n 40 "$conformance_dir/server.log"
        exit 1
    fi
    sleep 0.5
done
fixat_status=0
.venv/bin/python "$shared/conformance/fixat.py" --port "$port" --junit fixat.xml \
    "$shared/external/quickfix-acceptance/fix44" "$shared/external/quickfix-acceptance/validate" \
    || fixat_status=$?
if [ "$fixat_status" -ne 0 ]; then
    echo "conformance suite failed; server log tail:"
    tail -n 40 "$conformance_dir/server.log"
    exit "$fixat_status"
fi
stop_server

echo "== mypy (strict, every package)"
mypy_status=0
wait "$mypy_pid" || mypy_status=$?
cat "$mypy_out"
if [ "$mypy_status" -ne 0 ]; then
    exit "$mypy_status"
fi

echo "== pytest"
# BROKERAGE_TEST_WORKERS=N runs pytest on N xdist workers, a module's tests on one worker (--dist loadscope:
# a module-scoped system starts once; a package-scoped one once per worker that runs that package, each on
# that worker's own servers). Serial by default until two full parallel runs on a quiet machine have shown
# the timing-sensitive tests stay reliable with it. (--dist loadgroup cannot keep a package together with
# pytest 9: xdist 3.8 renames items through a node attribute pytest 9 no longer reads.)
workers=${BROKERAGE_TEST_WORKERS:-0}
parallel=()
if [ "$workers" != "0" ]; then
    parallel=(-n "$workers" --dist loadscope)
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "${parallel[@]}" --durations=25 "$@"  # the slowest, to keep the suite short
