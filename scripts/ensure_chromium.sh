#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is installed (the operator console's browser test drives it
# with Playwright through executable_path; `playwright install` is never used: it downloads its own browsers).
# Installs `chromium` (and `chromium-driver` with --driver) with apt when missing and running as root.
# Exit status: 0 when /usr/bin/chromium is there afterwards, 1 when it is missing and cannot be installed here.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${1:-}" = "--driver" ]; then command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver); fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: ${missing[*]} missing and not root: install with apt-get install chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v chromium >/dev/null 2>&1
