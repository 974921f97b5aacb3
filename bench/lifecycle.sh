#!/usr/bin/env bash
# berth vs docker vs podman: the container lifecycle at scale, end to end through
# each engine's own client.
#
#   bench/lifecycle.sh [N] [TOTAL]    (defaults 50 and 500; also N=... TOTAL=...)
#   REPS=K                            repetitions of the single-command steps (default 10)
#   BERTH_CLIENT=berth|docker         which client drives berthd (see bench/engines.sh)
#
# Steps, each timed for every engine (engines in a rotating order per step):
#   1. start N   N containers created and started in parallel (N concurrent
#                `run -d busybox sleep`), wall time for all of them;
#   2. ps N      `ps -a` with N containers (median of REPS);
#   3. exec      `exec <container> true` latency (median of REPS);
#   4. ps TOTAL  `ps -a` with TOTAL containers (TOTAL - N more are created, not
#                started, untimed) (median of REPS);
#   5. stop N    one `stop -t 0` naming the N running containers;
#   6. rm N      one `rm` naming them.
# Prints each step's time per engine and the ratios berth/docker and
# berth/podman (target: every berth/docker ratio <= 0.30x).
#
# Engines run on private roots set up by bench/engines.sh (which also cleans up
# everything on exit, failure or Ctrl-C). Needs root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

N="${1:-${N:-50}}"
TOTAL="${2:-${TOTAL:-500}}"
REPS="${REPS:-10}"
ME="bench/lifecycle.sh"
if ! [ "$N" -ge 1 ] 2>/dev/null || ! [ "$TOTAL" -ge "$N" ] 2>/dev/null || ! [ "$REPS" -ge 1 ] 2>/dev/null; then
    echo "usage: $ME [N] [TOTAL]  (1 <= N <= TOTAL; REPS >= 1)" >&2
    exit 2
fi

. bench/engines.sh

NAMES=(berth docker podman)
# client NAME: sets CMD to that engine's client command line.
client() {
    case "$1" in
        berth) CMD=("${BERTH[@]}") ;;
        docker) CMD=("${DOCKER[@]}") ;;
        podman) CMD=("${PODMAN[@]}") ;;
    esac
}
# run_flags NAME: the flags each engine's run/create needs here (no network,
# as in bench/run.sh; podman its cgroup parent).
run_flags() {
    case "$1" in
        berth) echo "${BERTH_NET[*]}" ;;
        docker) echo "--network none" ;;
        podman) echo "--network none ${PODMAN_CG[*]}" ;;
    esac
}


declare -A RESULT FAILED
# record STEP NAME MS|fail MESSAGE
record() {
    RESULT[$1,$2]="$3"
    [ "$3" = fail ] && FAILED[$1,$2]="$4"
    return 0
}

# start_many NAME FIRST LAST MODE(run|create) PARALLEL -> 0 if all succeeded
start_many() {
    local name="$1" first="$2" last="$3" mode="$4" par="$5" flags
    flags="$(run_flags "$name")"
    client "$name"
    local detach=""
    [ "$mode" = run ] && detach="-d"
    # shellcheck disable=SC2086 # flags are words
    seq "$first" "$last" | xargs -P "$par" -I{} \
        timeout -s KILL 300 "${CMD[@]}" "$mode" $detach $flags --name "lc-{}" busybox sleep 100000 \
        >/dev/null 2>>"$W/$name.err"
}

# median_of NAME REPS ARGS... -> median ms of REPS runs of that engine's
# client with ARGS, or "fail"
median_of() {
    local name="$1" reps="$2" i t0
    shift 2
    client "$name"
    : > "$W/m.ms"
    for ((i = 0; i < reps; i++)); do
        t0=$EPOCHREALTIME
        if ! timeout -s KILL 300 "${CMD[@]}" "$@" >/dev/null 2>>"$W/$name.err" </dev/null; then
            echo fail
            return
        fi
        ms_since "$t0" >> "$W/m.ms"
    done
    : > "$W/m.fail"
    stats "$W/m" 1 | awk '{ print $1 }'
}

# next_order: sets ORDER to the engines in the next step's order (rotating).
STEP_NO=0
next_order() {
    local k
    ORDER=()
    for ((k = 0; k < 3; k++)); do ORDER+=("${NAMES[$(( (STEP_NO + k) % 3 ))]}"); done
    STEP_NO=$((STEP_NO + 1))
}

for name in "${NAMES[@]}"; do : > "$W/$name.err"; done
names_list() { seq 1 "$N" | sed 's/^/lc-/'; }

echo "step 1: $N containers started in parallel..." >&2
next_order
for name in "${ORDER[@]}"; do
    t0=$EPOCHREALTIME
    if start_many "$name" 1 "$N" run "$N"; then
        t1=$EPOCHREALTIME
        record start "$name" "$(ms_between "$t0" "$t1")"
    else
        record start "$name" fail "$(tail -1 "$W/$name.err")"
    fi
done

echo "step 2: ps -a with $N containers..." >&2
next_order
for name in "${ORDER[@]}"; do
    record ps_n "$name" "$(median_of "$name" "$REPS" ps -a)"
done

echo "step 3: exec latency..." >&2
next_order
for name in "${ORDER[@]}"; do
    # One untimed exec first (the engines' first exec sets things up).
    client "$name"
    timeout -s KILL 300 "${CMD[@]}" exec lc-1 true >/dev/null 2>>"$W/$name.err" || true
    record exec "$name" "$(median_of "$name" "$REPS" exec lc-1 true)"
done

echo "step 4: ps -a with $TOTAL containers (creating $((TOTAL - N)) more)..." >&2
next_order
for name in "${ORDER[@]}"; do
    if [ "$TOTAL" -gt "$N" ] && ! start_many "$name" $((N + 1)) "$TOTAL" create 8; then
        record ps_total "$name" fail "creating containers: $(tail -1 "$W/$name.err")"
        continue
    fi
    record ps_total "$name" "$(median_of "$name" "$REPS" ps -a)"
done

echo "step 5: stop -t 0 of $N containers in one command..." >&2
next_order
for name in "${ORDER[@]}"; do
    client "$name"
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2046 # one word per name
    if timeout -s KILL 300 "${CMD[@]}" stop -t 0 $(names_list) >/dev/null 2>>"$W/$name.err"; then
        t1=$EPOCHREALTIME
        record stop "$name" "$(ms_between "$t0" "$t1")"
    else
        record stop "$name" fail "$(tail -1 "$W/$name.err")"
    fi
done

echo "step 6: rm of $N containers in one command..." >&2
next_order
for name in "${ORDER[@]}"; do
    client "$name"
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2046 # one word per name
    if timeout -s KILL 300 "${CMD[@]}" rm $(names_list) >/dev/null 2>>"$W/$name.err"; then
        t1=$EPOCHREALTIME
        record rm "$name" "$(ms_between "$t0" "$t1")"
    else
        record rm "$name" fail "$(tail -1 "$W/$name.err")"
    fi
done

# ------------------------------------------------------------------ report

report_header lifecycle
echo "N=$N TOTAL=$TOTAL REPS=$REPS; times in ms (single-command steps: median of REPS)"
ratio_table step 22 "start=start $N (parallel)" "ps_n=ps -a ($N)" "exec=exec true" \
    "ps_total=ps -a ($TOTAL)" "stop=stop -t 0 ($N)" "rm=rm ($N)"
echo "(target: berth/docker <= 0.30x on every step)"
report_failures
