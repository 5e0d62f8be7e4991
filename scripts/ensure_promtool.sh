#!/usr/bin/env bash
# Make Prometheus's promtool available (Debian's `prometheus` package ships it) for the alert rule tests.
# Exit 0 when promtool is on PATH afterwards; 1 when it is missing and cannot be installed here (not root).
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing; as root: apt-get update && apt-get install -y --no-install-recommends prometheus" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# the package starts a local Prometheus where an init system runs; the tests need only the binary
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi
command -v promtool >/dev/null 2>&1
