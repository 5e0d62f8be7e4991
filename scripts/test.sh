#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, unit + integration tests (the test setup starts
# its own PostgreSQL and Redis on free loopback ports), then the FIX 4.4 conformance suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
