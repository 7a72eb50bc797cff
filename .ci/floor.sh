#!/usr/bin/env bash
# The floor lane: the logic of issue 14's ratio table (`n2n-benches`'s
# `floor` module: median and range, goal verdicts, parsing of the child
# processes' output, arguments). Debug build, unit tests only: the
# measurement itself is `cargo run --release -p n2n-benches --bin floor`
# (benches/FLOOR.md), minutes long and timing-dependent, not a CI step.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test -p n2n-benches --lib floor
