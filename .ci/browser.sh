#!/usr/bin/env bash
# The browser lane: the TypeScript client's build and tests (shared wire
# vectors), then the end-to-end test of headless Chromium tabs with str0m and
# webrtc-rs peers in a loopback-only network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Only what is missing: a machine whose Node comes from elsewhere (e.g.
# NodeSource's nodejs, which bundles npm) cannot take Debian's npm beside it
# (the packages conflict and apt refuses the whole install).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== clients/web: install, build, check the committed bundle, unit tests"
(
  cd clients/web
  npm install --no-audit --no-fund
  npm run build
  # The server embeds dist/n2n-web.js: it must be the build of the sources.
  git diff --exit-code -- dist/ || { echo "clients/web/dist is stale: run npm run build in clients/web and commit it"; exit 1; }
  npm test
)

echo "== wire vectors (Rust side)"
cargo test -p overlay-core --test wire_vectors
echo "== page and room graph on the signaling port"
cargo test -p overlay-signaling --test web

echo "== end to end: Chromium + str0m + webrtc-rs"
cargo build --bin n2n --features webrtc-rs
# The TypeScript signaling client against the real server (no browser).
node --experimental-websocket clients/web/e2e/signaling.mjs
E2E_SCREENSHOT="${E2E_SCREENSHOT:-target/browser-page.png}" \
  unshare -n sh -c 'ip link set lo up; node clients/web/e2e/run.mjs'
