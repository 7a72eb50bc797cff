#!/usr/bin/env bash
# Scale lane smoke pass: a small hub (one str0m node, 50 connections from a
# second process) must open every connection and keep them open while idle.
# The full table: `cargo run --release -p n2n-benches --bin hub -- 100 1000 10000`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(cargo run --release -q -p n2n-benches --bin hub -- 50)
echo "$out"
if grep -q "failed" <<<"$out"; then
    echo "hub smoke: a run failed" >&2
    exit 1
fi
grep -Eq '^\| 50 \|.*\| 50 \|$' <<<"$out" || { echo "hub smoke: not all 50 open after idle" >&2; exit 1; }
