#!/usr/bin/env bash
# berth-runtime vs runc vs crun: `<runtime> run` of the same busybox bundle running
# `true` (runc's default spec: pid, net, ipc, uts, mount namespaces; terminal false),
# interleaved: every round runs all three in a rotating order, each run with a
# unique container id and each runtime with its own --root. Prints median and p90
# wall time per runtime (ms) and the ratios berth/runc and berth/crun.
#
#   bench/runtime.sh [ROUNDS]      (default 50; also ROUNDS=... in the environment)
#   BENCH_SPEC_JQ='<jq filter>'    optional extra edit of config.json for all three,
#                                  e.g. '.linux.namespaces |= map(select(.type != "network"))'
#
# Needs root. Builds the release berth-runtime first; if berth-runtime fails, the
# failure is printed and the peers are still measured.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ROUNDS="${1:-${ROUNDS:-50}}"
WARMUP="${WARMUP:-3}"

if [ "$(id -u)" != 0 ]; then
    echo "bench/runtime.sh: must run as root" >&2
    exit 1
fi
for tool in runc crun jq; do
    command -v "$tool" >/dev/null || { echo "bench/runtime.sh: $tool not found (.ci/run installs it)" >&2; exit 1; }
done

scripts/peer-setup >/dev/null

echo "building release berth-runtime..." >&2
if cargo build --release -q -p berth-runtime-cli --bin berth-runtime; then
    target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
    case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
    BERTH="$target_dir/release/berth-runtime"
else
    echo "bench/runtime.sh: FAILED to build berth-runtime; measuring the peers only" >&2
    BERTH=""
fi

W="$(mktemp -d /tmp/berth-bench.XXXXXX)"
CG="berth-bench-$$"
cleanup() {
    local name
    for name in berth runc crun; do
        [ -d "$W/root-$name" ] || continue
        # Containers left behind by a failed run (ours: ids carry this pid).
        for id in $(ls "$W/root-$name" 2>/dev/null); do
            case "$name" in
                berth) [ -n "$BERTH" ] && "$BERTH" --root "$W/root-$name" delete --force "$id" >/dev/null 2>&1 || true ;;
                *) "$name" --root "$W/root-$name" delete --force "$id" >/dev/null 2>&1 || true ;;
            esac
        done
    done
    # Our cgroup, if a runtime left it behind (only this exact name; never others').
    for d in /sys/fs/cgroup/*/"$CG"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
    rm -rf "$W"
}
trap cleanup EXIT

scripts/make-busybox-image --bundle "$W/bundle" -- true >/dev/null
# An explicit cgroup path of our own, so no runtime nests under the caller's cgroup.
jq --arg cg "/$CG" ".linux.cgroupsPath = \$cg | ${BENCH_SPEC_JQ:-.}" "$W/bundle/config.json" > "$W/config.json"
mv "$W/config.json" "$W/bundle/config.json"

declare -A BIN=([runc]="$(command -v runc)" [crun]="$(command -v crun)" [berth]="$BERTH")
NAMES=(berth runc crun)
for name in "${NAMES[@]}"; do
    mkdir -p "$W/root-$name"
    : > "$W/$name.ms"
    : > "$W/$name.fail"
done

# run_one NAME ID: prints elapsed ms on success, "FAIL" otherwise.
run_one() {
    local name="$1" id="$2" bin="${BIN[$1]}" t0 t1 rc=0
    if [ -z "$bin" ]; then
        echo "berth-runtime was not built" >> "$W/$name.fail"
        return 0
    fi
    t0=$EPOCHREALTIME
    timeout 30 "$bin" --root "$W/root-$name" run --bundle "$W/bundle" "$id" </dev/null >"$W/out" 2>"$W/err" || rc=$?
    t1=$EPOCHREALTIME
    if [ "$rc" = 0 ]; then
        ms_between "$t0" "$t1" >> "$W/$name.ms"
    else
        { echo "exit $rc: $(head -c 400 "$W/err" | tr '\n' ' ')"; } >> "$W/$name.fail"
        "$bin" --root "$W/root-$name" delete --force "$id" >/dev/null 2>&1 || true
    fi
}

echo "warming up ($WARMUP runs each)..." >&2
for ((i = 0; i < WARMUP; i++)); do
    for name in "${NAMES[@]}"; do run_one "$name" "w$i-$name-$$"; done
done
for name in "${NAMES[@]}"; do : > "$W/$name.ms"; : > "$W/$name.fail"; done

echo "running $ROUNDS interleaved rounds..." >&2
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < 3; k++)); do
        name="${NAMES[$(( (r + k) % 3 ))]}"
        run_one "$name" "b$r-$name-$$"
    done
done


echo
printf "berth-runtime bench: %s rounds of \`run\` (busybox true), interleaved; kernel %s, %s cpus\n" \
    "$ROUNDS" "$(uname -r)" "$(nproc)"
[ -n "${BENCH_SPEC_JQ:-}" ] && printf "spec edit: %s\n" "$BENCH_SPEC_JQ"
printf "runc %s, crun %s\n" "$(runc --version | head -1 | awk '{print $3}')" "$(crun --version | head -1 | awk '{print $3}')"
printf "%-14s %6s %6s %10s %10s\n" runtime ok failed median_ms p90_ms
declare -A MED P90
for name in "${NAMES[@]}"; do
    read -r med p90 ok fail < <(stats "$W/$name" 1)
    MED[$name]=$med P90[$name]=$p90
    label="$name"; [ "$name" = berth ] && label=berth-runtime
    printf "%-14s %6s %6s %10s %10s\n" "$label" "$ok" "$fail" "$med" "$p90"
done

echo
echo "berth/runc: median $(ratio "${MED[berth]}" "${MED[runc]}"), p90 $(ratio "${P90[berth]}" "${P90[runc]}")"
echo "berth/crun: median $(ratio "${MED[berth]}" "${MED[crun]}"), p90 $(ratio "${P90[berth]}" "${P90[crun]}")"

status=0
for name in "${NAMES[@]}"; do
    if [ -s "$W/$name.fail" ]; then
        label="$name"; [ "$name" = berth ] && label=berth-runtime
        echo
        echo "$label FAILED $(wc -l < "$W/$name.fail") of $ROUNDS runs; first failure:"
        head -1 "$W/$name.fail" | sed 's/^/  /'
        status=1
    fi
done
exit $status
