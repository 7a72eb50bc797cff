#!/usr/bin/env bash
# The NAT lab: network namespaces joined by veth pairs and a bridge, a
# STUN/TURN server (coturn) and a signaling server on a "public" segment,
# two sites each behind a Linux router namespace that does one kind of NAT,
# and `n2n peer` processes driven through their stdin. Runs a matrix of
#   NAT kind of site A x NAT kind of site B x backends x method x TURN
# and prints one row per cell: connected via host / srflx / relay (the
# candidate pair ICE selected, as `n2n peer`'s /peers reports it) with the
# setup time, or failed; and whether that is what the cell should do.
#
# Needs root, ip (iproute2), iptables, conntrack and turnserver (coturn);
# `--install` installs what is missing with apt-get. Every namespace,
# process and file it makes is removed on exit, also after a failure or ^C.
#
# Usage: lab/nat-lab.sh [options]
#   --n2n PATH          the n2n binary (default: build target/debug/n2n with
#                       both backends)
#   --kinds "K ..."     NAT kinds to pair (none cone symmetric firewall)
#   --pairs "A:B ..."   explicit site pairs instead of every pair of --kinds
#   --backends "X ..."  str0m webrtc-rs str0m/webrtc-rs webrtc-rs/str0m
#                       (site A's backend / site B's)
#   --methods "M ..."   join (B joins the room with A as contact: the
#                       handshake crosses the signaling server) and bridge
#                       (both join through a public peer P, then P bridges
#                       A to B: the handshake crosses P)
#   --turn "T ..."      on (STUN and TURN configured) and/or off (STUN only)
#   --timeout SECS      handshake timeout of a connection (default 10)
#   --install           apt-get install what is missing
#   --strict            exit 1 if any cell differs from its expectation
#   --markdown          print the table as markdown
#   --keep DIR          copy the peers' output and coturn's log there
set -euo pipefail

KINDS="none cone symmetric firewall"
PAIRS=""
BACKENDS="str0m webrtc-rs str0m/webrtc-rs webrtc-rs/str0m"
METHODS="join bridge"
TURNS="off on"
TIMEOUT=10
N2N=""
INSTALL=0
STRICT=0
MARKDOWN=0
KEEP=""
while [ $# -gt 0 ]; do
    case "$1" in
        --n2n) N2N="$2"; shift 2 ;;
        --kinds) KINDS="$2"; shift 2 ;;
        --pairs) PAIRS="$2"; shift 2 ;;
        --backends) BACKENDS="$2"; shift 2 ;;
        --methods) METHODS="$2"; shift 2 ;;
        --turn) TURNS="$2"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --install) INSTALL=1; shift ;;
        --strict) STRICT=1; shift ;;
        --markdown) MARKDOWN=1; shift ;;
        --keep) KEEP="$2"; shift 2 ;;
        -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "the NAT lab makes network namespaces: run it as root" >&2
    exit 2
fi

need() {
    local missing=""
    command -v ip >/dev/null || missing="$missing iproute2"
    command -v iptables >/dev/null || missing="$missing iptables"
    command -v conntrack >/dev/null || missing="$missing conntrack"
    command -v turnserver >/dev/null || missing="$missing coturn"
    echo "$missing"
}
missing=$(need)
if [ -n "$missing" ]; then
    if [ "$INSTALL" = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "missing:$missing (install them, or pass --install)" >&2
        exit 2
    fi
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$N2N" ]; then
    (cd "$ROOT" && cargo build -q --features str0m,webrtc-rs,cli --bin n2n)
    N2N="$ROOT/target/debug/n2n"
fi
N2N=$(realpath "$N2N")

# Names: a per-run tag so that two labs (or a stale one) never collide.
TAG="nl$$"
NS_SW="${TAG}sw"    # the public segment's bridge
NS_SRV="${TAG}srv"  # coturn (two addresses: two STUN servers) + signaling
NS_PUB="${TAG}pub"  # the public bridge peer P
WORK=$(mktemp -d "/tmp/${TAG}.XXXX")
PIDS=()
FDS=()

# The lab's addresses (private ranges only).
PUB_NET=172.31.0
SRV_IP1=$PUB_NET.2
SRV_IP2=$PUB_NET.4
SIG_IP=$PUB_NET.3
P_IP=$PUB_NET.10
SIGNAL="ws://$SIG_IP:8765/"
TURN_USER="lab"
TURN_PASS="lab-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n%s\n' "$TURN_USER" "$TURN_PASS" >"$WORK/turn-credentials"
chmod 600 "$WORK/turn-credentials"

cleanup() {
    set +e
    for fd in "${FDS[@]}"; do eval "exec ${fd}>&-" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    sleep 0.2
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    for ns in $(ip netns list | awk '{print $1}' | grep "^${TAG}"); do
        # Anything still running in a namespace of ours.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && rm -f "$KEEP/turn-credentials"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
# A peer that exited leaves a FIFO without reader: writing to it must fail, not kill us.
trap "" PIPE
trap 'exit 130' INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# A veth from namespace $1 (name $2) into namespace $3 (name $4).
veth() {
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
    nsx "$1" ip link set "$2" up
    nsx "$3" ip link set "$4" up
}

setup_public() {
    for ns in "$NS_SW" "$NS_SRV" "$NS_PUB"; do
        ip netns add "$ns"
        nsx "$ns" ip link set lo up
    done
    nsx "$NS_SW" ip link add br0 type bridge
    nsx "$NS_SW" ip link set br0 up
    veth "$NS_SW" srv "$NS_SRV" eth0
    veth "$NS_SW" pub "$NS_PUB" eth0
    nsx "$NS_SW" ip link set srv master br0
    nsx "$NS_SW" ip link set pub master br0
    nsx "$NS_SRV" ip addr add "$SRV_IP1/24" dev eth0
    nsx "$NS_SRV" ip addr add "$SRV_IP2/24" dev eth0
    nsx "$NS_SRV" ip addr add "$SIG_IP/24" dev eth0
    nsx "$NS_PUB" ip addr add "$P_IP/24" dev eth0
    # The sites' LANs, routed through their routers (a NAT router drops
    # what is not a reply; see site_rules).
    for site in 1 2; do
        nsx "$NS_SRV" ip route add "10.$site.0.0/24" via "$PUB_NET.1$site"
        nsx "$NS_PUB" ip route add "10.$site.0.0/24" via "$PUB_NET.1$site"
    done

    nsx "$NS_SRV" turnserver -n --no-tls --no-dtls --no-cli \
        --listening-ip="$SRV_IP1" --listening-ip="$SRV_IP2" --listening-port=3478 \
        --relay-ip="$SRV_IP1" --min-port=49152 --max-port=49999 \
        --lt-cred-mech --realm=n2n-lab --user="$TURN_USER:$TURN_PASS" \
        --no-multicast-peers --pidfile="$WORK/turnserver.pid" \
        --log-file="$WORK/turnserver.log" --simple-log --no-stdout-log \
        >/dev/null 2>&1 &
    PIDS+=($!)
    nsx "$NS_SRV" "$N2N" signal --listen "$SIG_IP:8765" --rate 1000 \
        >"$WORK/signal.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        if nsx "$NS_SRV" ss -lnu | grep -q "$SRV_IP2:3478" &&
            nsx "$NS_SRV" ss -lnt | grep -q "$SIG_IP:8765"; then
            return 0
        fi
        sleep 0.1
    done
    echo "coturn or the signaling server did not start:" >&2
    tail -5 "$WORK/turnserver.log" "$WORK/signal.out" >&2 || true
    exit 1
}

# Site $1 (1 or 2): router ${TAG}r$1 (WAN $PUB_NET.1$1, LAN 10.$1.0.1) and
# host ${TAG}h$1 (10.$1.0.2).
setup_site() {
    local s=$1 r="${TAG}r$1" h="${TAG}h$1"
    ip netns add "$r"
    ip netns add "$h"
    nsx "$r" ip link set lo up
    nsx "$h" ip link set lo up
    veth "$NS_SW" "site$s" "$r" wan
    nsx "$NS_SW" ip link set "site$s" master br0
    veth "$r" lan "$h" eth0
    nsx "$r" ip addr add "$PUB_NET.1$s/24" dev wan
    nsx "$r" ip addr add "10.$s.0.1/24" dev lan
    nsx "$h" ip addr add "10.$s.0.2/24" dev eth0
    nsx "$h" ip route add default via "10.$s.0.1"
    nsx "$r" sysctl -qw net.ipv4.ip_forward=1
    local other=$((3 - s))
    nsx "$r" ip route add "10.$other.0.0/24" via "$PUB_NET.1$other"
}

# Make site $1's router do NAT kind $2; forget every flow it tracked.
site_rules() {
    local r="${TAG}r$1" kind=$2
    nsx "$r" iptables -t nat -F
    nsx "$r" iptables -t mangle -F
    nsx "$r" iptables -F FORWARD
    nsx "$r" iptables -P FORWARD ACCEPT
    case "$kind" in
        none) ;;
        cone)
            # Endpoint-independent mapping: Linux keeps the source port.
            nsx "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
            ;;
        symmetric)
            # Address-and-port-dependent mapping: a random port per flow.
            nsx "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully
            ;;
        firewall)
            # No translation; nothing comes in that is not a reply.
            ;;
        *) echo "unknown NAT kind $kind" >&2; exit 2 ;;
    esac
    if [ "$kind" != none ]; then
        # Unsolicited inbound UDP is dropped before conntrack confirms an
        # entry for it: else the router would remember the flow (a packet
        # to its own WAN port) and the masquerade of our next outbound
        # packet to that peer would have to pick another port, which breaks
        # hole punching on any Linux NAT (home routers behave like this
        # rule: address-and-port-dependent filtering).
        nsx "$r" iptables -t mangle -A PREROUTING -i wan -p udp -m conntrack --ctstate NEW -j DROP
        nsx "$r" iptables -A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
        nsx "$r" iptables -A FORWARD -i wan -o lan -j DROP
    fi
    nsx "$r" conntrack -F >/dev/null 2>&1 || true
}

# start_peer NAME NS BIND BACKEND TURN [--contact ID]: an `n2n peer` whose
# stdin is a FIFO we hold open; waits for its id.
start_peer() {
    local name=$1 ns=$2 bind=$3 backend=$4 turn=$5; shift 5
    local fifo="$WORK/$name.in" fd
    if [ -n "$KEEP" ] && [ -f "$WORK/$name.out" ]; then
        mkdir -p "$WORK/cell$CELL.prev"
        mv "$WORK/$name.out" "$WORK/$name.err" "$WORK/cell$CELL.prev/" 2>/dev/null || true
    fi
    rm -f "$fifo" "$WORK/$name.out" "$WORK/$name.err"
    mkfifo "$fifo"
    local turn_args=()
    if [ "$turn" = on ]; then
        turn_args=(--turn "turn:$SRV_IP1:3478" --turn-credentials "$WORK/turn-credentials")
    fi
    nsx "$ns" "$N2N" peer --signal "$SIGNAL" --room "$ROOM" --backend "$backend" \
        --bind "$bind" --stun "$SRV_IP1:3478" --stun "$SRV_IP2:3478" "${turn_args[@]}" \
        --handshake-timeout "$TIMEOUT" "$@" \
        <"$fifo" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    eval "PID_$name=$!"
    exec {fd}>"$fifo"
    FDS+=("$fd")
    eval "FD_$name=$fd"
}

# wait_for NAME REGEX SECS: the first output line of NAME matching REGEX.
wait_for() {
    local name=$1 re=$2 secs=$3 pid
    eval "pid=\$PID_$name"
    local end=$((SECONDS + secs))
    while [ $SECONDS -le $end ]; do
        local line
        line=$(grep -m1 -E "$re" "$WORK/$name.out" 2>/dev/null || true)
        if [ -n "$line" ]; then echo "$line"; return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            line=$(grep -m1 -E "$re" "$WORK/$name.out" 2>/dev/null || true)
            if [ -n "$line" ]; then echo "$line"; return 0; fi
            return 1
        fi
        sleep 0.1
    done
    return 1
}

say() { local fd; eval "fd=\$FD_$1"; echo "$2" >&"$fd" 2>/dev/null || true; }

peer_id() { wait_for "$1" '^id ' 20 | awk '{print $2}'; }

stop_peers() {
    for name in "$@"; do
        local fd pid
        eval "fd=\${FD_$name:-}"; eval "pid=\${PID_$name:-}"
        [ -n "$fd" ] && { echo /quit >&"$fd" 2>/dev/null || true; eval "exec ${fd}>&-"; }
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
        eval "unset FD_$name PID_$name"
    done
    sleep 0.2
}

# The path NAME reports for its connection to peer ID: "relay", "srflx"...
path_to() {
    local name=$1 id=$2 line
    : >"$WORK/$name.peers"
    local before
    before=$(grep -c '^peers: ' "$WORK/$name.out" || true)
    say "$name" /peers
    for _ in $(seq 50); do
        if [ "$(grep -c '^peers: ' "$WORK/$name.out" || true)" -gt "$before" ]; then break; fi
        sleep 0.1
    done
    line=$(grep "^peer $id " "$WORK/$name.out" | tail -1)
    echo "$line" | sed -n 's/.* path=\([a-z-]*\) local=\([a-z]*\) remote=\([a-z]*\).*/\1 \2\/\3/p'
}

# Both ends' views of the A-B connection, combined: each end sees its own
# candidate (host, or relay) and the remote's as signalled (or prflx when
# the remote's packets came from an address it never signalled: a NAT's
# mapping). Traffic crosses a NAT if either end saw a reflexive remote.
combine() {
    local a=$1 b=$2
    [ -n "$a" ] && [ -n "$b" ] || { echo "failed (no path reported)"; return; }
    local via
    case "${a%% *} ${b%% *}" in
        *relay*) via=relay ;;
        *srflx*) via=srflx ;;
        *) via=host ;;
    esac
    echo "$via (A ${a#* }, B ${b#* })"
}

# What a cell should do. Linux masquerade filters inbound by the full
# 5-tuple (a reply must come from where the request went), so a symmetric
# mapping (new port per destination) cannot be reached by a peer that
# itself only accepts replies: that needs TURN.
expected() {
    local a=$1 b=$2 turn=$3
    local pair="$a/$b"
    case "$pair" in
        symmetric/symmetric|symmetric/cone|cone/symmetric|symmetric/firewall|firewall/symmetric)
            if [ "$turn" = on ]; then echo relay; else echo failed; fi ;;
        none/none|none/firewall|firewall/none|firewall/firewall) echo host ;;
        *) echo srflx ;;
    esac
}

CELL=0
DEVIATIONS=0
ROWS=()

run_cell() {
    local ka=$1 kb=$2 backends=$3 method=$4 turn=$5
    local ba=${backends%/*} bb=${backends#*/}
    CELL=$((CELL + 1))
    ROOM="cell$CELL"
    local result="failed" ms="-" idA idB line
    if [ "$method" = join ]; then
        start_peer A "${TAG}h1" 10.1.0.2 "$ba" "$turn"
        idA=$(peer_id A)
        if [ -n "$idA" ] && wait_for A '^joined room' 20 >/dev/null; then
            start_peer B "${TAG}h2" 10.2.0.2 "$bb" "$turn" --contact "$idA"
            idB=$(peer_id B)
            if line=$(wait_for B '^joined room .* via ' $((TIMEOUT + 15))); then
                ms=$(echo "$line" | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p')
                result=$(combine "$(path_to A "$idB")" "$(path_to B "$idA")")
            fi
        fi
        stop_peers A B
    else
        start_peer P "$NS_PUB" "$P_IP" str0m "$turn"
        local idP
        idP=$(peer_id P)
        wait_for P '^joined room' 20 >/dev/null || true
        start_peer A "${TAG}h1" 10.1.0.2 "$ba" "$turn" --contact "$idP"
        start_peer B "${TAG}h2" 10.2.0.2 "$bb" "$turn" --contact "$idP"
        idA=$(peer_id A)
        idB=$(peer_id B)
        if wait_for A '^joined room .* via ' $((TIMEOUT + 15)) >/dev/null &&
            wait_for B '^joined room .* via ' $((TIMEOUT + 15)) >/dev/null; then
            say P "/bridge $idA $idB"
            if line=$(wait_for P '^(bridged |error: bridge failed)' $((TIMEOUT + 15))); then
                case "$line" in
                    bridged*)
                        ms=$(echo "$line" | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p')
                        result=$(combine "$(path_to A "$idB")" "$(path_to B "$idA")")
                        ;;
                esac
            fi
        else
            result="failed (to bridge)"
        fi
        stop_peers P A B
    fi
    [ -n "$result" ] || result="failed"
    local want verdict
    want=$(expected "$ka" "$kb" "$turn")
    if [ "${result%% *}" = "$want" ]; then verdict="as expected"; else
        verdict="expected $want"; DEVIATIONS=$((DEVIATIONS + 1))
        mkdir -p "$WORK/keep"
    fi
    local row
    if [ "$MARKDOWN" = 1 ]; then
        row="| $ka | $kb | $backends | $method | $turn | $result | $ms | $verdict |"
    else
        row=$(printf '%-9s %-9s %-19s %-6s %-4s %-36s %9s  %s' "$ka" "$kb" "$backends" "$method" "$turn" "$result" "$ms" "$verdict")
    fi
    ROWS+=("$row")
    echo "$row"
}

setup_public
setup_site 1
setup_site 2

if [ -z "$PAIRS" ]; then
    set -- $KINDS
    kinds=("$@")
    for ((i = 0; i < ${#kinds[@]}; i++)); do
        for ((j = i; j < ${#kinds[@]}; j++)); do
            PAIRS="$PAIRS ${kinds[$i]}:${kinds[$j]}"
        done
    done
fi

if [ "$MARKDOWN" = 1 ]; then
    echo "| site A | site B | backends (A/B) | method | TURN | connected via (each end: local/remote) | setup ms | |"
    echo "|---|---|---|---|---|---|---:|---|"
else
    printf '%-9s %-9s %-19s %-6s %-4s %-36s %9s  %s\n' "site A" "site B" "backends (A/B)" method TURN "via (each end: local/remote)" "setup ms" ""
fi
for pair in $PAIRS; do
    ka=${pair%:*}; kb=${pair#*:}
    site_rules 1 "$ka"
    site_rules 2 "$kb"
    for turn in $TURNS; do
        for backends in $BACKENDS; do
            case "$backends" in */*) ;; *) backends="$backends/$backends" ;; esac
            for method in $METHODS; do
                site_rules 1 "$ka"
                site_rules 2 "$kb"
                run_cell "$ka" "$kb" "$backends" "$method" "$turn"
            done
        done
    done
done
echo "cells: $CELL, differing from the expectation: $DEVIATIONS"
if [ "$STRICT" = 1 ] && [ "$DEVIATIONS" -gt 0 ]; then exit 1; fi
exit 0
