#!/usr/bin/env bash
# Makes sure the web checks' tools are here, installing what is missing.
# Idempotent, like kafka.sh:
#  * Debian's chromium (/usr/bin/chromium), for the browser end-to-end test
#    (apt-get; needs root, or sudo);
#  * the page's pinned npm toolchain (web/package-lock.json) in web/node_modules;
#  * a Python venv with the pinned OpenAPI validator and schemathesis
#    (/var/tmp/ticketing-pyvenv; override with TICKETING_PYVENV).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TICKETING_PYVENV:-/var/tmp/ticketing-pyvenv}"
PY_PACKAGES=(openapi-spec-validator==0.9.0 schemathesis==4.32.5)

if [ ! -x /usr/bin/chromium ]; then
  echo "web-tools.sh: installing Debian's chromium"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

command -v npm >/dev/null || { echo "web-tools.sh: npm missing: install Node.js 20+"; exit 1; }
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "web-tools.sh: npm ci (web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! "$VENV/bin/python" -c 'import openapi_spec_validator, schemathesis' 2>/dev/null; then
  echo "web-tools.sh: Python venv $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "${PY_PACKAGES[@]}"
fi
