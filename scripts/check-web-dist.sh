#!/usr/bin/env bash
# Run the web UI's unit tests (Vitest), then rebuild it from a clean install
# and fail if the committed web/dist differs from the fresh build (i.e. someone changed web/ without
# running `npm run build` and committing the result).
#
# Run from the repository root: scripts/check-web-dist.sh
# The build is byte-for-byte reproducible for a given lockfile and Node.js
# major version (brotli/zlib output can differ between Node releases), so run
# it with the Node version in web/.nvmrc.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -f web/package.json ]]; then
  echo "check-web-dist: web/package.json not found; run this from the repository root" >&2
  exit 2
fi

expected_node="$(tr -d '[:space:]v' < web/.nvmrc 2>/dev/null || true)"
actual_node="$(node --version)"
echo "check-web-dist: node ${actual_node}, npm $(npm --version)"
if [[ -n "${expected_node}" && "${actual_node#v}" != "${expected_node}"* ]]; then
  echo "check-web-dist: warning: web/.nvmrc asks for Node ${expected_node}; a different Node may compress differently" >&2
fi

(
  cd web
  npm ci --no-audit --no-fund
  npm test
  npm run build
)

changes="$(git status --porcelain --untracked-files=all -- web/dist)"
if [[ -n "${changes}" ]]; then
  {
    echo
    echo "check-web-dist: FAIL: web/dist is stale. The committed build does not match a fresh 'npm run build'."
    echo "Rebuild with 'cd web && npm ci && npm run build' and commit web/dist."
    echo
    echo "Changed files:"
    echo "${changes}"
    echo
    echo "Diff stat (tracked files):"
    git --no-pager diff --stat -- web/dist
  } >&2
  exit 1
fi

echo "check-web-dist: OK: web/dist matches a fresh build"
