#!/usr/bin/env bash
# Browser tests of the web UI: headless Debian Chromium (playwright-core) against the real
# quickdapp binary on SQLite. Installs what is missing (chromium via apt, npm ci), builds the
# binary if needed, then runs the tests. Screenshots land in tools/browser/artifacts/.
#
#   tools/browser/run.sh            # run the tests
#   tools/browser/run.sh --bench    # also measure bundle size and time to interactive
#
# QUICKDAPP_BIN=path overrides the binary; CARGO_TARGET_DIR is honoured when building.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_ready=
apt_install() {
  if [ -z "$apt_ready" ]; then as_root apt-get update -qq; apt_ready=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
  echo "browser tests: installing chromium (apt)"
  apt_install chromium
fi
if ! command -v npm >/dev/null; then
  echo "browser tests: installing Node.js (apt)"
  apt_install nodejs npm
fi

# Never let a tool fetch a browser of its own: the tests use /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

if [ -z "${QUICKDAPP_BIN:-}" ]; then
  target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  echo "browser tests: building the quickdapp binary (cargo build -p server)"
  cargo build -p server --locked --quiet
  export QUICKDAPP_BIN="$target/debug/quickdapp"
fi
[ -x "$QUICKDAPP_BIN" ] || { echo "browser tests: no binary at $QUICKDAPP_BIN" >&2; exit 1; }

cd "$here"
node --test --test-concurrency=1 --test-reporter=spec tests/
if [ "${1:-}" = "--bench" ]; then
  node bench.mjs
fi
