#!/bin/sh
# Before `cargo +nightly fuzz build|run`: puts the source of the real
# ed25519-dalek 2.2.0 (from Cargo's registry cache) where the fuzz build's
# memoizing stand-in `ed25519-memo` depends on it (`target/`, not in git).
# A path source is needed because the stand-in replaces ed25519-dalek from
# crates.io, and Cargo allows one 2.x version per source. Idempotent.
set -eu
cd "$(dirname "$0")"
dst=target/ed25519-dalek-2.2.0
[ -f "$dst/Cargo.toml" ] && exit 0
find_src() {
    find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d \
        -name ed25519-dalek-2.2.0 2>/dev/null | head -n 1
}
src=$(find_src)
if [ -z "$src" ]; then
    (cd .. && cargo fetch)
    src=$(find_src)
fi
if [ -z "$src" ]; then
    echo "ed25519-dalek 2.2.0 is not in Cargo's registry cache; run 'cargo fetch' in the repository root" >&2
    exit 1
fi
mkdir -p target
cp -R "$src" "$dst.tmp"
mv "$dst.tmp" "$dst"
echo "copied $src to fuzz/$dst"
