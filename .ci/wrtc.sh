#!/usr/bin/env bash
# webrtc-rs backend, setup with other WebRTC stacks: a smoke run of
# transport-webrtcrs/examples/interop_setup.rs (3 connections per row:
# webrtc-rs offering to str0m and to libwebrtc, the reverse directions,
# the same-stack references). No timing assertion: the run fails only if
# a setup fails (--strict). The example installs interop/'s npm packages
# if missing and re-executes itself in a loopback-only network namespace.
# The behaviour itself (early datagrams held, then handed to the library)
# is tested by `cargo test` (transport-webrtcrs: tests/early_packets.rs
# and the unit tests of src/early.rs). About a minute after the workspace
# test build (debug; `--workspace` keeps its features).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --example interop_setup
target/debug/examples/interop_setup --n 3 --stacks str0m,libwebrtc --strict
