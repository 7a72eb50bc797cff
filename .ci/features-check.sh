#!/usr/bin/env bash
# Checks that the facade package `n2n-overlay` type-checks with each of
# its features alone, with none, with the defaults and with all of them
# (lib, bins, tests, examples). `cargo check` only: no code generation,
# metadata shared with clippy. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

combos=(
  "--no-default-features"
  "--no-default-features --features str0m"
  "--no-default-features --features webrtc-rs"
  "--no-default-features --features signaling"
  "--no-default-features --features cli"
  "--no-default-features --features testkit"
  ""
  "--no-default-features --features bench"
  "--no-default-features --features full"
)
for flags in "${combos[@]}"; do
  echo "== cargo check -p n2n-overlay --all-targets ${flags:-(default features)}"
  # shellcheck disable=SC2086
  cargo check -p n2n-overlay --all-targets $flags
done
