#!/usr/bin/env bash
# berth registry serve vs Debian's docker-registry (distribution 2.8): push and
# pull of the same image through skopeo, side by side in one run.
#
#   bench/registry.sh [ROUNDS] [SIZE_MB] [LAYERS]
#   ROUNDS=N     rounds, the median is shown (default 5)
#   SIZE_MB=N    total size of the image's layers, MiB (default 64)
#   LAYERS=N     number of layers (default 4)
#   BERTH=PATH   the berth binary (default: target/release/berth, built if missing)
# Each step's raw milliseconds go to stderr as it runs.
#
# The image is an OCI layout of LAYERS gzip layers of random bytes (so skopeo
# neither compresses nor decompresses anything: the time is transfer, hashing
# and storage). Each round, in alternating order, for each registry:
#   push   skopeo copy oci:LAYOUT docker://127.0.0.1:PORT/bench:rN into a
#          registry started on a fresh, empty root (so every blob is uploaded)
#   pull   skopeo copy docker://127.0.0.1:PORT/bench:rN dir:OUT (a fresh dir)
# Both registries listen on 127.0.0.1 over plain HTTP, store under the same
# temp dir (same disk) and log what they log by default to a file. Prints the
# median and p90 ms per step and MB/s of the median, and as ratio
# docker-registry's time over berth's (above 1.00x: berth is faster).
#
# Needs root only if the temp dir needs it; skopeo and docker-registry
# (apt-get install skopeo docker-registry). Everything it starts is stopped by
# pid on exit, failure or Ctrl-C. Smoke-test with tiny sizes: bench/registry.sh 1 2 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ME="bench/registry.sh"
ROUNDS="${1:-${ROUNDS:-5}}"
SIZE_MB="${2:-${SIZE_MB:-64}}"
LAYERS="${3:-${LAYERS:-4}}"
for v in ROUNDS SIZE_MB LAYERS; do
    if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
        echo "usage: $ME [ROUNDS] [SIZE_MB] [LAYERS]  (each >= 1; defaults 5 64 4)" >&2
        exit 2
    fi
done
for c in skopeo /usr/bin/docker-registry sha256sum gzip; do
    command -v "$c" >/dev/null || { echo "$ME: $c not found (apt-get install skopeo docker-registry)" >&2; exit 1; }
done
BERTH="${BERTH:-target/release/berth}"
if ! [ -x "$BERTH" ]; then
    echo "$ME: building $BERTH (cargo build --release -p berth)" >&2
    cargo build --release -p berth >&2
fi

WORK="$(mktemp -d /tmp/berth-regbench.XXXXXX)"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # wait_port PORT PID
    local i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "$ME: the registry (pid $2) exited before listening" >&2; return 1; }
        sleep 0.05
    done
    echo "$ME: nothing listens on 127.0.0.1:$1" >&2
    return 1
}


# start_registry NAME ROOT -> sets PORT and PID
start_registry() {
    PORT=$(free_port)
    case "$1" in
        berth)
            "$BERTH" registry serve --addr "127.0.0.1:$PORT" --root "$2" 2>> "$WORK/berth.log" &
            ;;
        distribution)
            printf 'version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
                "$2" "$PORT" > "$WORK/config.yml"
            /usr/bin/docker-registry serve "$WORK/config.yml" >> "$WORK/distribution.log" 2>&1 &
            ;;
    esac
    PID=$!
    PIDS+=("$PID")
    wait_port "$PORT" "$PID"
}

stop_registry() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

make_layout
BYTES=$(du -sb "$WORK/layout/blobs" | cut -f1)
NAMES=(berth distribution)
for n in "${NAMES[@]}"; do
    for s in push pull; do : > "$WORK/$n.$s.ms"; : > "$WORK/$n.$s.fail"; done
done

for r in $(seq 1 "$ROUNDS"); do
    order=("${NAMES[@]}")
    if [ $((r % 2)) = 0 ]; then order=(distribution berth); fi
    for n in "${order[@]}"; do
        root="$WORK/root-$n"
        rm -rf "$root" "$WORK/out"
        start_registry "$n" "$root"
        t0=$EPOCHREALTIME
        if skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:bench" "docker://127.0.0.1:$PORT/bench:r$r" 2>> "$WORK/skopeo.err"; then
            ms=$(ms_since "$t0"); echo "$ms" >> "$WORK/$n.push.ms"; echo "round $r $n push ${ms} ms" >&2
        else
            echo "round $r" >> "$WORK/$n.push.fail"; echo "round $r $n push FAILED" >&2
        fi
        t0=$EPOCHREALTIME
        if skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT/bench:r$r" "dir:$WORK/out" 2>> "$WORK/skopeo.err"; then
            ms=$(ms_since "$t0"); echo "$ms" >> "$WORK/$n.pull.ms"; echo "round $r $n pull ${ms} ms" >&2
        else
            echo "round $r" >> "$WORK/$n.pull.fail"; echo "round $r $n pull FAILED" >&2
        fi
        stop_registry "$PID"
    done
done

echo
echo "berth registry bench, $(date -u '+%Y-%m-%d %H:%M UTC'): kernel $(uname -r), $(nproc) cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
echo "image: $LAYERS gzip layers, $BYTES bytes in all; skopeo $(skopeo --version | awk '{ print $3 }'); $(/usr/bin/docker-registry --version | awk '{ print $2, $3 }'); $ROUNDS rounds"
printf "%-6s %24s %24s %15s\n" step "berth ms (p90) MB/s" "registry ms (p90) MB/s" "registry/berth"
status=0
for s in push pull; do
    read -r bm bp bok bfail <<< "$(stats "$WORK/berth.$s")"
    read -r dm dp dok dfail <<< "$(stats "$WORK/distribution.$s")"
    mbs() { [ "$1" = - ] && echo - || awk -v b="$BYTES" -v ms="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }'; }
    printf "%-6s %24s %24s %15s\n" "$s" "$bm ($bp) $(mbs "$bm")" "$dm ($dp) $(mbs "$dm")" "$(ratio "$dm" "$bm")"
    if [ "$bfail" != 0 ] || [ "$dfail" != 0 ]; then
        echo "FAILED $s: berth $bfail, docker-registry $dfail of $ROUNDS (see skopeo's errors below)"
        status=1
    fi
done
if [ $status != 0 ]; then tail -20 "$WORK/skopeo.err"; fi
exit $status
