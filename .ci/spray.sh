#!/bin/sh
# CI steps of the spray lane: the overlay-spray crate, its tests (simulator,
# memory transport, 20 str0m peers on loopback), the simulator's output hook,
# and a small `n2n spray` run that writes its report and plots.
set -eu
cargo fmt -p overlay-spray -- --check
cargo clippy -p overlay-spray --all-targets -- -D warnings
cargo test -p overlay-spray
cargo test -p overlay-core --test sim_output_hook
cargo run --release --bin n2n -- spray --peers 200 --cycles 10 --out target/n2n-spray-ci
test -s target/n2n-spray-ci/report.md
test -s target/n2n-spray-ci/in-degree-200.svg
RUSTDOCFLAGS="-D warnings" cargo doc -p overlay-spray --no-deps
