#!/usr/bin/env bash
# berth vs docker (userland proxy on, its default) vs podman: container
# networking, end to end through each engine's own client.
#
#   bench/network.sh [SECONDS] [SIZE_MB]   (defaults 3 and 64; also DURATION=... SIZE_MB=...)
#   CONNS=C      wrk connections for requests/s (default 16)
#   FETCHES=K    downloads per container-to-container measurement (default 5)
#   REPS=R       pairs of containers (with and without networking) per
#                network-setup measurement (default 10)
#   ROUNDS=K     rounds of each paired measurement (default 8)
#   BERTH_CLIENT=berth|docker   which client drives berthd (see bench/engines.sh)
#
# Everything runs inside network namespaces this script makes for itself
# (it re-executes itself under `unshare --net`; berthd runs there, dockerd and
# podman each in one more, made by a holder process that ends with the
# script): the engines' bridges, iptables/nftables rules, forwarding and
# docker-proxy live and die there, and the host's own network is never
# touched. Each engine is alone in its namespace, as on a host running only
# it: dockerd sets iptables' FORWARD policy to DROP, and with br_netfilter
# loaded that drops every other engine's bridged traffic. "The host" below is
# the engine's namespace; wrk and wget run in it.
#
# For each engine, one busybox httpd container serving a file of SIZE_MB MiB
# (`/big`) and a small one (`/small`), published with `-p 127.0.0.1::80`:
#   1. rps published   wrk -c CONNS, DURATION s, /small via 127.0.0.1:<port>;
#   2. rps direct      the same against the container's own address;
#   3. MB/s published  wrk -c 1, DURATION s, /big via 127.0.0.1:<port>;
#   4. MB/s direct     the same against the container's address;
#                      (1-4: ROUNDS rounds, published and direct alternating in
#                      a swapping order)
#   5. c2c MB/s        a second container on the same network downloads /big
#                      FETCHES times with busybox wget, timed inside the
#                      container (so an engine's exec time does not count);
#   6. veth MB/s       the same downloads between two bare network namespaces
#                      joined by a veth pair (busybox httpd and wget, no
#                      engine); 5 and 6 alternate over ROUNDS rounds;
#                      for berth, ROUNDS more rounds with
#                      bridge-nf-call-iptables=0 in its namespace (a host
#                      without br_netfilter, which docker hosts usually load);
#   7. setup ms        REPS pairs of `run -d`, one on the default network and
#                      one with `--network none`, in a swapping order; the
#                      median of the pairs' differences: what networking adds
#                      to a container's start.
# Prints each value's median over the rounds per engine, berth/docker and
# berth/podman, and each engine's own ratios as the median of the per-round
# ratios (a round's two runs are seconds apart; this VM's speed drifts by
# 20-30% over a minute, so a ratio of two medians is much noisier):
# published/direct (target for berth >= 0.98 for both req/s and MB/s;
# docker's proxy costs about 14%), c2c/veth (target >= 0.95), and setup
# berth/docker (target <= 0.30).
#
# Needs root, wrk and busybox on the host (.ci/run installs both, and iperf3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${BERTH_BENCH_NETNS:-}" ]; then
    [ "$(id -u)" = 0 ] || { echo "bench/network.sh: must run as root" >&2; exit 1; }
    export BERTH_BENCH_NETNS=1
    exec unshare --net -- "$0" "$@"
fi
# Every engine's namespace (this script's own, so the host's settings are
# untouched) gets tcp_tw_reuse=1 (new_netns below too). busybox httpd closes each connection
# after its answer, so every request leaves a TIME-WAIT socket with the
# client, and connect() picks its ports from half of ip_local_port_range:
# after about 14000 requests in a minute the direct runs stalled for lack of
# ports (loopback destinations may reuse TIME-WAIT ports by default, others
# not), and req/s fell tenfold mid-run. tcp_tw_reuse=1 lets every client
# reuse them, as a loaded web client is configured.
ip link set lo up
sysctl -qw net.ipv4.tcp_tw_reuse=1

. bench/lib.sh

DURATION="${1:-${DURATION:-3}}"
SIZE_MB="${2:-${SIZE_MB:-64}}"
CONNS="${CONNS:-16}"
FETCHES="${FETCHES:-5}"
REPS="${REPS:-10}"
ROUNDS="${ROUNDS:-8}"
ME="bench/network.sh"
for v in DURATION SIZE_MB CONNS FETCHES REPS ROUNDS; do
    if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
        echo "usage: $ME [SECONDS] [SIZE_MB]  (CONNS, FETCHES, REPS, ROUNDS >= 1)" >&2
        exit 2
    fi
done
for tool in wrk busybox nsenter; do
    command -v "$tool" >/dev/null || { echo "$ME: $tool not found (.ci/run installs wrk and busybox-static)" >&2; exit 1; }
done

# docker as it runs by default: bridge, iptables, forwarding, masquerade and
# the userland proxy (here inside this script's own network namespace).
export DOCKERD_NET_FLAGS="--iptables=true --ip6tables=false --ip-forward=true --ip-masq=true --userland-proxy=true --userland-proxy-path /usr/sbin/docker-proxy"
# berthd with its defaults too (forwarding on; its default bridge subnet).
export BERTHD_NET_FLAGS="--ip-forward=true"
# new_netns VAR: a process in a new network namespace (loopback up) that ends
# by itself within a second of this script; its pid in VAR.
new_netns() {
    local pid i
    unshare --net -- sh -c 'ip link set lo up; while kill -0 "$1" 2>/dev/null; do sleep 1; done' holder "$$" \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
        sleep 0.05
    done
    nsenter -t "$pid" -n ip link set lo up
    nsenter -t "$pid" -n sysctl -qw net.ipv4.tcp_tw_reuse=1
    printf -v "$1" %s "$pid"
}
new_netns DOCKERD_NETNS
new_netns PODMAN_NETNS
. bench/engines.sh

NAMES=(berth docker podman)
client() {
    case "$1" in
        berth) CMD=("${BERTH[@]}") ;;
        docker) CMD=("${DOCKER[@]}") ;;
        podman) CMD=("${PODMAN[@]}") ;;
    esac
}
extra_flags() { [ "$1" = podman ] && echo "${PODMAN_CG[*]}" || true; }
c_() { client "$1"; shift; timeout -s KILL 300 "${CMD[@]}" "$@"; }
# in_ns NAME CMD...: CMD in engine NAME's network namespace.
in_ns() {
    case "$1" in
        berth) shift; "$@" ;;
        docker) shift; nsenter -t "$DOCKERD_NETNS" -n -- "$@" ;;
        podman) shift; nsenter -t "$PODMAN_NETNS" -n -- "$@" ;;
    esac
}


# The bare veth pair's two namespaces: sleeping processes of our own, ended
# before bench/engines.sh's cleanup.
VETH_PIDS=()
# set +e first: a failing kill must not end the trap before cleanup runs.
trap 'rc=$?; set +e; for p in "${VETH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; (exit $rc); cleanup' EXIT

declare -A RESULT FAILED
record() {
    RESULT[$1,$2]="$3"
    [ "$3" = fail ] && FAILED[$1,$2]="$4"
    return 0
}

# wrk_run NAME URL CONNS -> "requests/s MB/s" or "fail" (in NAME's namespace;
# wrk wants no more threads than connections)
wrk_run() {
    local out threads=$(($3 < 2 ? $3 : 2))
    if ! out="$(in_ns "$1" timeout -s KILL $((DURATION + 60)) wrk -t "$threads" -c "$3" -d "${DURATION}s" "$2" 2>&1)"; then
        echo fail
        return
    fi
    echo "$out" | awk '
        /^Requests\/sec:/ { rps = $2 }
        /^Transfer\/sec:/ {
            v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v)
            f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576
            mbs = v * f
        }
        /Non-2xx/ { bad = 1 }
        END { if (rps == "" || bad) print "fail"; else printf "%.1f %.1f\n", rps, mbs }'
}

SERVE="mkdir -p /srv && dd if=/dev/zero of=/srv/big bs=1048576 count=$SIZE_MB 2>/dev/null && echo hello > /srv/small && exec httpd -f -p 80 -h /srv"
# fetch_timed URL: a busybox sh line that downloads URL FETCHES times and
# prints its start and end ($EPOCHREALTIME): timed inside, so the time an
# engine takes to start an exec is not counted as network time.
fetch_timed() { echo "t0=\$EPOCHREALTIME; for i in \$(seq $FETCHES); do wget -q -O /dev/null $1 || exit 1; done; echo \$t0 \$EPOCHREALTIME"; }
# mbs_of_span "T0 T1" -> MB/s of FETCHES downloads of SIZE_MB MiB, or "fail"
mbs_of_span() {
    local t0 t1
    read -r t0 t1 <<<"$1"
    if [ -z "$t1" ]; then echo fail; return; fi
    awk -v ms="$(ms_between "$t0" "$t1")" -v k="$FETCHES" -v s="$SIZE_MB" 'BEGIN { if (ms <= 0) print "fail"; else printf "%.1f\n", k * s / (ms / 1000) }'
}
# median_v FILE -> the median of the values in FILE (one a line), "fail" when
# any run failed
median_v() {
    if [ ! -s "$1" ] || grep -q fail "$1"; then echo fail; return; fi
    sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# quotient A B -> A/B with 3 decimals, or "fail"
quotient() {
    if [ "$1" = fail ] || [ "$2" = fail ] || [ -z "$1" ] || [ -z "$2" ]; then echo fail; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "fail"; else printf "%.3f\n", a / b }'
}
# paired NAME KEY -> the median of NAME's per-round ratios KEY as "0.99x"
paired() { local v="${PAIRED[$2,$1]:-fail}"; [ "$v" = fail ] && echo n/a || printf "%.2fx\n" "$v"; }
declare -A PAIRED

# The bare veth pair, first: each engine's container-to-container rounds
# alternate with downloads over it, so both see the machine in the same state.
echo "bare veth pair..." >&2
unshare --net sleep 100000 & VETH_PIDS+=($!)
unshare --net sleep 100000 & VETH_PIDS+=($!)
sleep 0.2
pa="${VETH_PIDS[0]}" pb="${VETH_PIDS[1]}"
veth_ok=0
if ip link add brb-va type veth peer name brb-vb &&
    ip link set brb-va netns "$pa" && ip link set brb-vb netns "$pb" &&
    nsenter -t "$pa" -n sh -c 'ip link set lo up && ip addr add 10.215.0.1/24 dev brb-va && ip link set brb-va up' &&
    nsenter -t "$pb" -n sh -c 'ip link set lo up && ip addr add 10.215.0.2/24 dev brb-vb && ip link set brb-vb up'; then
    mkdir -p "$W/veth-srv"
    dd if=/dev/zero of="$W/veth-srv/big" bs=1048576 count="$SIZE_MB" 2>/dev/null
    nsenter -t "$pa" -n busybox httpd -f -p 80 -h "$W/veth-srv" & VETH_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do
        nsenter -t "$pb" -n busybox wget -q -O /dev/null http://10.215.0.1/big 2>/dev/null && veth_ok=1 && break
        sleep 0.1
    done
fi

# c2c_rounds KEY: ROUNDS paired rounds of engine $name's container `cli`
# fetching from $ip and of the bare veth pair; the medians in RESULT[KEY],
# RESULT[veth] (for KEY c2c) and PAIRED[KEY].
c2c_rounds() {
    local key="$1" c2c veth span via order round
    for kind in c2c veth c2c_ratio; do : > "$W/$kind.v"; done
    for ((round = 0; round < ROUNDS; round++)); do
        if ((round % 2 == 0)); then order="c2c veth"; else order="veth c2c"; fi
        for via in $order; do
            if [ "$via" = c2c ]; then
                span="$(c_ "$name" exec cli sh -c "$(fetch_timed "http://$ip/big")" 2>>"$W/$name.err")" || span=
                c2c="$(mbs_of_span "$span")"
            elif [ "$veth_ok" = 1 ]; then
                span="$(nsenter -t "$pb" -n busybox sh -c "$(fetch_timed http://10.215.0.1/big)")" || span=
                veth="$(mbs_of_span "$span")"
            else
                veth=fail
            fi
        done
        echo "$c2c" >> "$W/c2c.v"
        echo "$veth" >> "$W/veth.v"
        quotient "$c2c" "$veth" >> "$W/c2c_ratio.v"
        echo "  round $((round + 1)): container->container $c2c MB/s, bare veth $veth MB/s" >&2
    done
    record "$key" "$name" "$(median_v "$W/c2c.v")" "$(tail -1 "$W/$name.err")"
    [ "$key" = c2c ] && record veth "$name" "$(median_v "$W/veth.v")" "the bare veth pair's download failed"
    PAIRED[$key,$name]="$(median_v "$W/c2c_ratio.v")"
}

for name in "${NAMES[@]}"; do : > "$W/$name.err"; done

for name in "${NAMES[@]}"; do
    echo "$name: httpd published on 127.0.0.1..." >&2
    # shellcheck disable=SC2046 # flags are words
    if ! c_ "$name" run -d --name srv $(extra_flags "$name") -p 127.0.0.1::80 busybox sh -c "$SERVE" >/dev/null 2>>"$W/$name.err"; then
        for k in rps_pub rps_direct mbs_pub mbs_direct c2c veth setup; do record "$k" "$name" fail "$(tail -1 "$W/$name.err")"; done
        continue
    fi
    port="$(c_ "$name" port srv 80/tcp 2>>"$W/$name.err" | head -1 | sed 's/.*://')"
    ip="$(c_ "$name" inspect -f '{{.NetworkSettings.IPAddress}}' srv 2>>"$W/$name.err")"
    # Until the file is written and httpd answers.
    for ((i = 0; i < 300; i++)); do
        in_ns "$name" busybox wget -q -O /dev/null "http://127.0.0.1:$port/small" 2>/dev/null && break
        sleep 0.1
    done
    # Published and direct alternate, ROUNDS times each, in a swapping
    # order, and each round's published/direct ratio is kept: the machine's
    # speed drifts by 20-30% within a minute here, and a ratio of two runs
    # seconds apart is steadier than a ratio of two medians.
    for kind in rps_pub rps_direct mbs_pub mbs_direct rps_ratio mbs_ratio; do : > "$W/$kind.v"; done
    for ((round = 0; round < ROUNDS; round++)); do
        if ((round % 2 == 0)); then order="pub direct"; else order="direct pub"; fi
        for via in $order; do
            if [ "$via" = pub ]; then url="http://127.0.0.1:$port"; else url="http://$ip"; fi
            read -r rps _ <<<"$(wrk_run "$name" "$url/small" "$CONNS")"
            read -r r mbs <<<"$(wrk_run "$name" "$url/big" 1)"
            [ "$r" = fail ] && mbs=fail
            printf -v "rps_$via" %s "${rps:-fail}"
            printf -v "mbs_$via" %s "${mbs:-fail}"
            echo "${rps:-fail}" >> "$W/rps_$via.v"
            echo "${mbs:-fail}" >> "$W/mbs_$via.v"
        done
        # shellcheck disable=SC2154 # rps_pub and friends are set by printf -v
        {
            quotient "$rps_pub" "$rps_direct" >> "$W/rps_ratio.v"
            quotient "$mbs_pub" "$mbs_direct" >> "$W/mbs_ratio.v"
            echo "  round $((round + 1)): published $rps_pub req/s $mbs_pub MB/s, direct $rps_direct req/s $mbs_direct MB/s" >&2
        }
    done
    record rps_pub "$name" "$(median_v "$W/rps_pub.v")" "wrk via 127.0.0.1:$port failed"
    record rps_direct "$name" "$(median_v "$W/rps_direct.v")" "wrk via $ip failed"
    record mbs_pub "$name" "$(median_v "$W/mbs_pub.v")" "wrk of /big via 127.0.0.1:$port failed"
    record mbs_direct "$name" "$(median_v "$W/mbs_direct.v")" "wrk of /big via $ip failed"
    PAIRED[rps,$name]="$(median_v "$W/rps_ratio.v")"
    PAIRED[mbs,$name]="$(median_v "$W/mbs_ratio.v")"

    echo "$name: container to container, alternating with the bare veth pair..." >&2
    # shellcheck disable=SC2046
    if c_ "$name" run -d --name cli $(extra_flags "$name") busybox sleep 100000 >/dev/null 2>>"$W/$name.err"; then
        c2c_rounds c2c
        # br_netfilter hands every bridged packet to netfilter while
        # bridge-nf-call-iptables is 1 (the default of every namespace once
        # the module is loaded; docker hosts usually load it). berth does not need it;
        # without the module it is off. Measured once
        # more for berth with it off in berth's namespace (this script's).
        if [ "$name" = berth ] && [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
            echo "$name: the same with bridge-nf-call-iptables=0 in its namespace..." >&2
            sysctl -qw net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
            c2c_rounds c2c_nobrnf
            sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
        fi
    else
        record c2c "$name" fail "$(tail -1 "$W/$name.err")"
    fi
    c_ "$name" rm -f srv cli >/dev/null 2>&1 || true

    echo "$name: network setup time..." >&2
    # Pairs of runs, with and without networking, in a swapping order; the
    # median of the pairs' differences (a run -d takes hundreds of ms and
    # drifts, networking adds a few: medians of two separate series left
    # mostly noise).
    : > "$W/st.ms"; : > "$W/st.fail"
    base="$(extra_flags "$name")"
    for ((i = 0; i < REPS; i++)); do
        if ((i % 2 == 0)); then order="net none"; else order="none net"; fi
        for mode in $order; do
            flags="$base"
            [ "$mode" = none ] && flags="$flags --network none"
            t0=$EPOCHREALTIME
            # shellcheck disable=SC2086
            if c_ "$name" run -d --name "st-$mode-$i" $flags busybox sleep 100000 >/dev/null 2>>"$W/$name.err"; then
                t1=$EPOCHREALTIME
                ms="$(ms_between "$t0" "$t1")"
            else
                ms=fail
            fi
            if [ "$mode" = net ]; then ms_net="$ms"; else ms_none="$ms"; fi
        done
        if [ "$ms_net" = fail ] || [ "$ms_none" = fail ]; then
            echo fail >> "$W/st.fail"
        else
            awk -v a="$ms_net" -v b="$ms_none" 'BEGIN { printf "%.1f\n", a - b }' >> "$W/st.ms"
        fi
        c_ "$name" rm -f "st-net-$i" "st-none-$i" >/dev/null 2>&1 || true
    done
    read -r med _ ok fail <<<"$(stats "$W/st" 1)"
    if [ "$fail" != 0 ] || [ "$med" = - ]; then med=fail; fi
    if [ "$med" = fail ]; then
        record setup "$name" fail "$(tail -1 "$W/$name.err")"
    else
        # A median at or under 0 (noise) shows as 0.1 so ratios stay defined.
        record setup "$name" "$(awk -v d="$med" 'BEGIN { if (d < 0.1) d = 0.1; printf "%.1f\n", d }')"
    fi
done

# ------------------------------------------------------------------ report

report_header network " (userland proxy on)"
echo "DURATION=${DURATION}s SIZE_MB=$SIZE_MB CONNS=$CONNS FETCHES=$FETCHES REPS=$REPS ROUNDS=$ROUNDS (medians of the rounds)"
ratio_table measure 26 "rps_pub=req/s 127.0.0.1:port" "rps_direct=req/s container addr" \
    "mbs_pub=MB/s 127.0.0.1:port" "mbs_direct=MB/s container addr" \
    "c2c=MB/s container->container" "veth=MB/s bare veth (same time)" "setup=network setup ms"
echo
echo "each engine against itself, the median of the per-round ratios:"
for name in "${NAMES[@]}"; do
    printf "%-7s published/direct: req/s %s, MB/s %s; container->container/veth %s\n" "$name" \
        "$(paired "$name" rps)" "$(paired "$name" mbs)" "$(paired "$name" c2c)"
done
if [ -n "${PAIRED[c2c_nobrnf,berth]:-}" ]; then
    printf "berth   container->container/veth with bridge-nf-call-iptables=0 (a host without br_netfilter): %s (%s MB/s)\n" \
        "$(paired berth c2c_nobrnf)" "${RESULT[c2c_nobrnf,berth]:-fail}"
fi
echo "(targets: berth published/direct >= 0.98x; berth container->container/veth >= 0.95x; setup berth/docker <= 0.30x)"
report_failures
