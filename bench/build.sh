#!/usr/bin/env bash
# berth vs docker vs podman: `build` of the same Dockerfile and context, end
# to end through each engine's own client, side by side in one run.
#
#   bench/build.sh [ROUNDS] [FILES]
#   ROUNDS=N                           rounds, the median is shown (default 5)
#   FILES=N                            files of 4 KiB in the context (default 500)
#   BERTH_CLIENT=berth|docker          which client drives berthd (see bench/engines.sh)
#   ENGINES="berth docker podman"      the engines to measure (default: all three;
#                                      bench/engines.sh starts all three anyway)
# Each build's raw milliseconds go to stderr as it runs.
#
# The Dockerfile (FROM the busybox image bench/engines.sh loads into each):
# a COPY of the context's FILES files, two RUN steps (one writes 8 files, one
# copies the tree again), then ENV, WORKDIR, LABEL and CMD: 8 steps, 3 of them
# with a layer. Each round, every engine in a rotating order:
#   cold     build --no-cache -q -t bench-build:1 CTX      (every step runs)
#   cached   build -q -t bench-build:1 CTX                 (every step from the cache)
#   then an untimed rmi of bench-build:1 (with its intermediate images).
# Clients: `berth build`; the docker 28 CLI with DOCKER_BUILDKIT=0 (dockerd
# 20.10's classic builder, which is what berth's builder follows); `podman
# build` (buildah, with its layer cache). Every build runs its RUN steps with
# `--network none` (dockerd runs here without a bridge).
# Prints the median and p90 milliseconds of each and the ratios berth/docker
# and berth/podman (lower is better for berth).
#
# Engines run on private roots set up by bench/engines.sh (which also cleans up
# everything on exit, failure or Ctrl-C). Needs root. Smoke-test: bench/build.sh 1 10
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ME="bench/build.sh"
ROUNDS="${1:-${ROUNDS:-5}}"
FILES="${2:-${FILES:-500}}"
for v in ROUNDS FILES; do
    if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
        echo "usage: $ME [ROUNDS] [FILES]  (each >= 1; defaults 5 500)" >&2
        exit 2
    fi
done
read -r -a NAMES <<< "${ENGINES:-berth docker podman}"
if [ "${#NAMES[@]}" = 0 ]; then
    echo "$ME: ENGINES is empty (berth, docker, podman)" >&2
    exit 2
fi
for n in "${NAMES[@]}"; do
    case "$n" in berth | docker | podman) ;; *) echo "$ME: ENGINES: unknown engine '$n' (berth, docker, podman)" >&2; exit 2 ;; esac
done

. bench/engines.sh

echo "making the context ($FILES files of 4 KiB)..." >&2
CTX="$W/ctx"
mkdir -p "$CTX/files"
python3 - "$CTX/files" "$FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
block = bytes(range(256)) * 16
for i in range(n):
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(block)
PY
cat > "$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox
COPY files/ /app/files/
RUN for i in 1 2 3 4 5 6 7 8; do echo "$i" > /app/r$i; done
RUN mkdir /data && cp -r /app/files /data/copy
ENV A=1 B=2
WORKDIR /app
LABEL bench=build
CMD ["sh"]
DOCKERFILE

IMG=bench-build:1
declare -A BUILD RMI
BUILD[berth]="$(printf '%q ' "${BERTH[@]}") build -q --network none -t $IMG"
BUILD[docker]="env DOCKER_BUILDKIT=0 $(printf '%q ' "${DOCKER[@]}") build -q --network none -t $IMG"
BUILD[podman]="$(printf '%q ' "${PODMAN[@]}") build -q --network none $(printf '%q ' "${PODMAN_CG[@]}") -t $IMG"
RMI[berth]="$(printf '%q ' "${BERTH[@]}") rmi $IMG"
RMI[docker]="$(printf '%q ' "${DOCKER[@]}") rmi $IMG"
RMI[podman]="$(printf '%q ' "${PODMAN[@]}") rmi $IMG"

for name in "${NAMES[@]}"; do
    for kind in cold cached; do : > "$W/$name-$kind.ms"; : > "$W/$name-$kind.fail"; done
done

# build_one NAME KIND FLAGS: one timed build; appends the ms or the failure.
build_one() {
    local name="$1" kind="$2" flags="$3" t0 t1 rc=0 ms
    t0=$EPOCHREALTIME
    eval "timeout 900 ${BUILD[$name]} $flags $(printf '%q' "$CTX")" </dev/null >"$W/out" 2>"$W/err" || rc=$?
    t1=$EPOCHREALTIME
    ms=$(ms_between "$t0" "$t1")
    if [ "$rc" != 0 ]; then
        echo "exit $rc: $(head -c 400 "$W/err" | tr '\n' ' ')" >> "$W/$name-$kind.fail"
        echo "$name $kind build FAILED (exit $rc): $(head -c 400 "$W/err")" >&2
    else
        echo "$ms" >> "$W/$name-$kind.ms"
        echo "$name $kind build $ms ms" >&2
    fi
}

# round_of NAME: a cold build, a cached one, then the image removed.
round_of() {
    local name="$1"
    build_one "$name" cold --no-cache
    build_one "$name" cached ""
    if ! eval "timeout 300 ${RMI[$name]}" </dev/null >"$W/out" 2>"$W/err"; then
        echo "$name rmi failed: $(head -c 400 "$W/err")" >&2
    fi
}

echo "warming up (one untimed round each)..." >&2
for name in "${NAMES[@]}"; do round_of "$name"; done
for name in "${NAMES[@]}"; do
    for kind in cold cached; do
        if [ -s "$W/$name-$kind.fail" ]; then
            echo "$ME: warning: the warm-up $kind build of $name failed: $(head -1 "$W/$name-$kind.fail")" >&2
        fi
        : > "$W/$name-$kind.ms"; : > "$W/$name-$kind.fail"
    done
done

echo "running $ROUNDS interleaved rounds..." >&2
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#NAMES[@]}; k++)); do
        round_of "${NAMES[$(( (r + k) % ${#NAMES[@]} ))]}"
    done
done

# ------------------------------------------------------------------ report

report_header build
echo "context: a Dockerfile of 8 steps (COPY of $FILES files of 4 KiB, 2 RUN, ENV, WORKDIR, LABEL, CMD) FROM busybox"
echo "$ROUNDS interleaved rounds of a --no-cache build and a cached build (timed), then rmi (not timed)"
printf "%-8s %-7s %6s %6s %10s %10s\n" engine build ok failed median_ms p90_ms
declare -A MED P90
for name in "${NAMES[@]}"; do
    for kind in cold cached; do
        read -r med p90 ok fail < <(stats "$W/$name-$kind" 1)
        MED[$name,$kind]=$med P90[$name,$kind]=$p90
        printf "%-8s %-7s %6s %6s %10s %10s\n" "$name" "$kind" "$ok" "$fail" "$med" "$p90"
    done
done
echo
for kind in cold cached; do
    for peer in docker podman; do
        if [ -n "${MED[berth,$kind]:-}" ] && [ -n "${MED[$peer,$kind]:-}" ]; then
            echo "$kind berth/$peer: median $(ratio "${MED[berth,$kind]}" "${MED[$peer,$kind]}"), p90 $(ratio "${P90[berth,$kind]}" "${P90[$peer,$kind]}")   (time; lower is better)"
        fi
    done
done

status=0
for name in "${NAMES[@]}"; do
    for kind in cold cached; do
        if [ -s "$W/$name-$kind.fail" ]; then
            echo
            echo "$name $kind FAILED $(wc -l < "$W/$name-$kind.fail") of $ROUNDS rounds; first failure:"
            head -1 "$W/$name-$kind.fail" | sed 's/^/  /'
            status=1
        fi
    done
done
exit $status
