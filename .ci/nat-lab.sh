#!/usr/bin/env bash
# CI: the compact NAT lab run (lab/nat-lab.sh, which makes network
# namespaces, runs coturn and a signaling server on lab addresses, and
# tears everything down on exit, also on failure). On both backends:
#   - a cone-cone pair joined through the signaling server: srflx, no TURN;
#   - a symmetric-symmetric pair joined through the server: relay (TURN);
#   - a cone-symmetric pair connected through a bridge peer: relay (TURN);
#   - a cone-cone pair connected through a bridge peer: srflx.
# Fails if any cell is not connected the way it should be. Needs root;
# installs iproute2, iptables, conntrack and coturn with apt-get if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== NAT lab: build n2n with both backends"
cargo build -q --features str0m,webrtc-rs,cli --bin n2n

run() {
    lab/nat-lab.sh --install --strict --n2n target/debug/n2n --timeout 10 "$@"
}
for backend in str0m webrtc-rs; do
    echo "== NAT lab on $backend"
    run --backends "$backend" --pairs "cone:cone" --methods "join bridge" --turn off
    run --backends "$backend" --pairs "symmetric:symmetric" --methods join --turn on
    run --backends "$backend" --pairs "cone:symmetric" --methods bridge --turn on
done
echo "== NAT lab: mixed backends, symmetric pair through TURN"
run --backends "str0m/webrtc-rs webrtc-rs/str0m" --pairs "symmetric:symmetric" --methods join --turn on
