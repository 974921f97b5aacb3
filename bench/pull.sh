#!/usr/bin/env bash
# berth vs docker vs podman: `pull` of the same image from the same local
# registry, end to end through each engine's own client, side by side in one run.
#
#   bench/pull.sh [ROUNDS] [SIZE_MB] [LAYERS]
#   ROUNDS=N                           rounds, the median is shown (default 5)
#   SIZE_MB=N                          total size of the image's layers, MiB (default 256)
#   LAYERS=N                           number of layers (default 4)
#   WARMUP=N                           untimed pull + rmi of each engine first (default 1)
#   BERTH_CLIENT=berth|docker          which client drives berthd (see bench/engines.sh)
#   ENGINES="berth docker podman"      the engines to measure (default: all three;
#                                      bench/engines.sh starts all three anyway)
# Each pull's raw seconds go to stderr as it runs.
#
# The registry is Debian's docker-registry (distribution 2.8) on 127.0.0.1, a
# free port, plain HTTP, storing under the run's temp dir. One image is pushed
# to it once with skopeo, 127.0.0.1:PORT/bench/img:1: an OCI manifest of LAYERS
# gzip layers of random bytes, SIZE_MB MiB in all (as bench/registry.sh builds
# it), so the time is download, digest checks, decompression and unpacking
# into each engine's store. Each round, every engine in a rotating order (berth,
# docker, podman; then docker, podman, berth; ...) so that drift of the disk and
# CPU hits all alike:
#   pull   timed, end to end by the client command:
#            berth pull 127.0.0.1:PORT/bench/img:1
#            docker pull 127.0.0.1:PORT/bench/img:1      (the docker 28 CLI -> dockerd)
#            podman pull --tls-verify=false 127.0.0.1:PORT/bench/img:1
#   rmi    untimed, so that the next round downloads every layer again (a pull
#          that reports a layer as already there is counted as a failure).
# dockerd treats 127.0.0.0/8 as an insecure registry by default (plain HTTP
# after an HTTPS attempt, as it does for any insecure registry); berthd speaks
# plain HTTP to loopback registries; podman needs --tls-verify=false.
# Prints the median and p90 seconds per engine and the MB/s of each (the
# image's compressed bytes over the time), and the ratios berth/docker and
# berth/podman of the times (lower is better for berth).
#
# Engines run on private roots set up by bench/engines.sh (which also cleans up
# everything on exit, failure or Ctrl-C); the registry is stopped by pid. Needs
# root, skopeo and docker-registry (apt-get install skopeo docker-registry).
# Smoke-test with tiny sizes: bench/pull.sh 1 4 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ME="bench/pull.sh"
ROUNDS="${1:-${ROUNDS:-5}}"
SIZE_MB="${2:-${SIZE_MB:-256}}"
LAYERS="${3:-${LAYERS:-4}}"
WARMUP="${WARMUP:-1}"
for v in ROUNDS SIZE_MB LAYERS; do
    if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
        echo "usage: $ME [ROUNDS] [SIZE_MB] [LAYERS]  (each >= 1; defaults 5 256 4)" >&2
        exit 2
    fi
done
if ! [ "$WARMUP" -ge 0 ] 2>/dev/null; then
    echo "$ME: WARMUP must be a number >= 0" >&2
    exit 2
fi
read -r -a NAMES <<< "${ENGINES:-berth docker podman}"
if [ "${#NAMES[@]}" = 0 ]; then
    echo "$ME: ENGINES is empty (berth, docker, podman)" >&2
    exit 2
fi
for n in "${NAMES[@]}"; do
    case "$n" in berth | docker | podman) ;; *) echo "$ME: ENGINES: unknown engine '$n' (berth, docker, podman)" >&2; exit 2 ;; esac
done
for c in skopeo /usr/bin/docker-registry sha256sum gzip python3; do
    command -v "$c" >/dev/null || { echo "$ME: $c not found (apt-get install skopeo docker-registry)" >&2; exit 1; }
done

. bench/engines.sh

# The registry, stopped by pid before bench/engines.sh's cleanup runs.
REGISTRY_PID=""
trap 'rc=$?; set +e; if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null; fi; (exit $rc); cleanup' EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}


echo "making the image ($LAYERS layers, $SIZE_MB MiB of random bytes)..." >&2
WORK="$W/img"
mkdir -p "$WORK"
make_layout
BYTES=$(du -sb "$WORK/layout/blobs" | cut -f1)

echo "starting docker-registry and pushing the image..." >&2
PORT=$(free_port)
mkdir -p "$W/registry"
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$W/registry/data" "$PORT" > "$W/registry/config.yml"
/usr/bin/docker-registry serve "$W/registry/config.yml" </dev/null >"$W/registry/log" 2>&1 &
REGISTRY_PID=$!
# shellcheck disable=SC2317 # called by wait_for
registry_up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
wait_for docker-registry "$REGISTRY_PID" registry_up || { tail -20 "$W/registry/log" >&2; exit 1; }
IMAGE="127.0.0.1:$PORT/bench/img:1"
skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:bench" "docker://$IMAGE" ||
    { echo "$ME: skopeo could not push the image to docker-registry" >&2; tail -20 "$W/registry/log" >&2; exit 1; }
rm -rf "$WORK"

# The commands, one per engine.
declare -A PULL RMI
PULL[berth]="$(printf '%q ' "${BERTH[@]}") pull $IMAGE"
PULL[docker]="$(printf '%q ' "${DOCKER[@]}") pull $IMAGE"
PULL[podman]="$(printf '%q ' "${PODMAN[@]}") pull --tls-verify=false $IMAGE"
RMI[berth]="$(printf '%q ' "${BERTH[@]}") rmi $IMAGE"
RMI[docker]="$(printf '%q ' "${DOCKER[@]}") rmi $IMAGE"
RMI[podman]="$(printf '%q ' "${PODMAN[@]}") rmi $IMAGE"

for name in "${NAMES[@]}"; do : > "$W/$name.ms"; : > "$W/$name.fail"; done

# pull_one NAME: pulls (timed), appends the seconds or the failure, then
# removes the image again.
pull_one() {
    local name="$1" t0 t1 rc=0 ms
    t0=$EPOCHREALTIME
    eval "timeout 900 ${PULL[$name]}" </dev/null >"$W/out" 2>"$W/err" || rc=$?
    t1=$EPOCHREALTIME
    ms=$(ms_between "$t0" "$t1")
    if [ "$rc" != 0 ]; then
        echo "exit $rc: $(head -c 400 "$W/err" | tr '\n' ' ')" >> "$W/$name.fail"
        echo "$name pull FAILED (exit $rc)" >&2
    elif grep -qi 'already exists' "$W/out" "$W/err"; then
        # The last rmi left a layer behind: this pull did not download everything.
        echo "a layer was already there: $(grep -hi 'already exists' "$W/out" "$W/err" | head -1)" >> "$W/$name.fail"
        echo "$name pull did not download every layer (left from the last rmi?)" >&2
    else
        echo "$ms" >> "$W/$name.ms"
        echo "$name pull $ms ms" >&2
    fi
    if ! eval "timeout 300 ${RMI[$name]}" </dev/null >"$W/out" 2>"$W/err"; then
        # Only a failure if the image is still there (a failed pull leaves none).
        if eval "${RMI[$name]/ rmi / image inspect }" >/dev/null 2>&1; then
            echo "rmi failed: $(head -c 400 "$W/err" | tr '\n' ' ')" >> "$W/$name.fail"
            echo "$name rmi FAILED: $(head -c 400 "$W/err")" >&2
        fi
    fi
}

if [ "$WARMUP" -gt 0 ]; then
    echo "warming up ($WARMUP untimed pulls each)..." >&2
    for ((i = 0; i < WARMUP; i++)); do
        for name in "${NAMES[@]}"; do pull_one "$name"; done
    done
    for name in "${NAMES[@]}"; do
        if [ -s "$W/$name.fail" ]; then
            echo "$ME: warning: a warm-up pull of $name failed: $(head -1 "$W/$name.fail")" >&2
        fi
        : > "$W/$name.ms"; : > "$W/$name.fail"
    done
fi

echo "running $ROUNDS interleaved rounds..." >&2
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#NAMES[@]}; k++)); do
        pull_one "${NAMES[$(( (r + k) % ${#NAMES[@]} ))]}"
    done
done

# ------------------------------------------------------------------ report

report_header pull
echo "image: $IMAGE, $LAYERS gzip layers of random bytes, $BYTES bytes in all (docker-registry $(/usr/bin/docker-registry --version | awk '{ print $3 }') on 127.0.0.1, plain HTTP)"
echo "$ROUNDS interleaved rounds of \`pull\` (timed) and \`rmi\` (not timed)"
printf "%-8s %6s %6s %10s %10s %12s %12s\n" engine ok failed median_s p90_s median_MB/s p90_MB/s
declare -A MED P90
# secs MS, mbs MS: seconds and MB/s of a time in ms ("-" stays "-").
secs() {
    if [ "$1" = - ]; then echo -; return; fi
    awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'
}
mbs() {
    if [ "$1" = - ]; then echo -; return; fi
    awk -v b="$BYTES" -v ms="$1" 'BEGIN { if (ms == 0) print "-"; else printf "%.1f", b / 1048576 / (ms / 1000) }'
}
for name in "${NAMES[@]}"; do
    read -r med p90 ok fail < <(stats "$W/$name" 1)
    MED[$name]=$med P90[$name]=$p90
    printf "%-8s %6s %6s %10s %10s %12s %12s\n" "$name" "$ok" "$fail" "$(secs "$med")" "$(secs "$p90")" "$(mbs "$med")" "$(mbs "$p90")"
done
echo
for peer in docker podman; do
    if [ -n "${MED[berth]:-}" ] && [ -n "${MED[$peer]:-}" ]; then
        echo "berth/$peer: median $(ratio "${MED[berth]}" "${MED[$peer]}"), p90 $(ratio "${P90[berth]}" "${P90[$peer]}")   (time; lower is better)"
    fi
done

status=0
for name in "${NAMES[@]}"; do
    if [ -s "$W/$name.fail" ]; then
        echo
        echo "$name FAILED $(wc -l < "$W/$name.fail") of $ROUNDS rounds; first failure:"
        head -1 "$W/$name.fail" | sed 's/^/  /'
        status=1
    fi
done
exit $status
