#!/usr/bin/env bash
# Set up and run the whole system locally with demo data: local PostgreSQL + Redis, migrations,
# demo seed, and every process, supervised in the foreground (Ctrl-C stops everything).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/brokerage up --demo "$@"
